package cache

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// save writes u, a snapshot, as the whole cache log.
func save(dir string, u *edgeplanev1.ConfigUpdate) error {
	return NewLog(dir, func() *edgeplanev1.ConfigUpdate { return u }, nil).Flush()
}

func TestLog_SealsPrivateKeys(t *testing.T) {
	dir := t.TempDir()
	secret := []byte("-----BEGIN PRIVATE KEY-----\nsecret-key-material\n")
	u := &edgeplanev1.ConfigUpdate{Revision: 3, Snapshot: true,
		Certificates: []*edgeplanev1.TlsCertificate{{Name: "c", PrivateKeyPem: secret}}}
	if err := save(dir, u); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, LogName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("secret-key-material")) {
		t.Error("the cache file holds the private key in clear")
	}
	if fi, err := os.Stat(filepath.Join(dir, SealKeyName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("seal key: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}
	got, _, err := Load(dir)
	if err != nil || !bytes.Equal(got.GetCertificates()[0].GetPrivateKeyPem(), secret) {
		t.Fatalf("Load: %v, got key %q", err, got.GetCertificates()[0].GetPrivateKeyPem())
	}
	// Another node's seal key does not open it.
	if err := os.WriteFile(filepath.Join(dir, SealKeyName), bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir); err == nil {
		t.Error("Load with another seal key: got nil error, want one")
	}
}

func TestLoad_ReadsUnsealedCache(t *testing.T) {
	dir := t.TempDir()
	u := &edgeplanev1.ConfigUpdate{Revision: 9, Snapshot: true}
	b, _ := proto.Marshal(u)
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, _, err := Load(dir)
	if err != nil || got.GetRevision() != 9 {
		t.Fatalf("Load of an old unsealed cache: %v, revision %d, want 9", err, got.GetRevision())
	}
}

func TestUnseal_BoundToName(t *testing.T) {
	dir := t.TempDir()
	sealed, err := Seal(dir, "a", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Unseal(dir, "b", sealed); err == nil {
		t.Error("Unseal under another name: got nil error, want one")
	}
}
