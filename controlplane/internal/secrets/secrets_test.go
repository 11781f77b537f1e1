package secrets

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBox_SealOpenAndTamper(t *testing.T) {
	b := Ephemeral()
	secret := []byte("-----BEGIN EC PRIVATE KEY-----\nabc\n")
	sealed := b.Seal(secret)
	if bytes.Contains(sealed, []byte("PRIVATE KEY")) {
		t.Fatalf("sealed value holds the plaintext: %q", sealed)
	}
	got, err := b.Open(sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open: got %q %v, want the plaintext", got, err)
	}
	if bytes.Equal(b.Seal(secret), sealed) {
		t.Errorf("two seals of one value are equal: the nonce is not random")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := b.Open(sealed); err == nil {
		t.Errorf("Open of a tampered value: got nil error")
	}
	if _, err := Ephemeral().Open(b.Seal(secret)); err == nil {
		t.Errorf("Open with another key: got nil error")
	}
	if _, err := b.Open(secret); err == nil {
		t.Errorf("Open of plaintext: got nil error")
	}
}

func TestLoadFile_Formats(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hexKey := strings.Repeat("ab", 32)
	for name, content := range map[string]string{
		"raw": strings.Repeat("k", 32), "hex": hexKey + "\n", "base64": "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=",
	} {
		if _, err := LoadFile(write(name, content)); err != nil {
			t.Errorf("%s key: %v", name, err)
		}
	}
	if _, err := LoadFile(write("short", "abc")); err == nil || !strings.Contains(err.Error(), "openssl rand -hex 32") {
		t.Errorf("short key: got %v, want an error saying how to make one", err)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("missing file: got nil error")
	}
}

func TestBox_SealForBindsTheName(t *testing.T) {
	b := Ephemeral()
	sealed := b.SealFor("certificate/a", []byte("key a"))
	if got, err := b.OpenFor("certificate/a", sealed); err != nil || string(got) != "key a" {
		t.Fatalf("OpenFor its own name: got %q %v", got, err)
	}
	if _, err := b.OpenFor("certificate/b", sealed); err == nil {
		t.Error("OpenFor another name: got nil error, want one (a sealed key moved to another record must not open)")
	}
	// Values sealed before names were bound still open.
	if got, err := b.OpenFor("certificate/a", b.Seal([]byte("old"))); err != nil || string(got) != "old" {
		t.Errorf("OpenFor of an old ep1 value: got %q %v", got, err)
	}
}

func TestLoadFile_RefusesLooseModes(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660} {
		p := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(p, bytes.Repeat([]byte("k"), KeySize), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadFile(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: got %v, want a refusal saying chmod 600", mode, err)
		}
	}
}
