package cache

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func TestSaveLoad_RoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested")
	routes := []*edgeplanev1.Route{{Name: "a", Hosts: []string{"a.test"}}, {Name: "b", Hosts: []string{"b.test"}}}
	if err := Save(dir, &edgeplanev1.ConfigUpdate{Revision: 42, Snapshot: true, Routes: routes}); err != nil {
		t.Fatalf("Save() error = %v", err)
	}
	want := &edgeplanev1.ConfigUpdate{Revision: 43, Snapshot: true, Routes: routes[:1],
		Certificates: []*edgeplanev1.TlsCertificate{{Name: "c", Domains: []string{"a.test"}, CertificatePem: []byte("pem"), PrivateKeyPem: []byte("key")}},
		Challenges:   []*edgeplanev1.AcmeChallenge{{Token: "t", KeyAuthorization: "t.k"}}}
	if err := Save(dir, want); err != nil {
		t.Fatalf("second Save() error = %v", err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode = %v, want 0600: it holds private keys", fi.Mode().Perm())
	}
	if err := Save(dir, &edgeplanev1.ConfigUpdate{Revision: 44}); err == nil {
		t.Error("Save(delta) error = nil, want an error")
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Load() mismatch (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("cache directory holds %d files, want 2, the cache and its seal key (no temporary files left)", len(entries))
	}
}

func TestLoad_Errors(t *testing.T) {
	tests := []struct {
		name     string
		content  []byte
		notExist bool
	}{
		{"missing", nil, true},
		{"garbage", []byte{0xff, 0xff, 0xff}, false},
		{"not a snapshot", []byte{0x08, 0x01}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.content != nil {
				if err := os.WriteFile(filepath.Join(dir, FileName), tt.content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(dir)
			if err == nil {
				t.Fatal("Load() error = nil, want an error")
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tt.notExist {
				t.Errorf("errors.Is(%v, fs.ErrNotExist) = %v, want %v", err, got, tt.notExist)
			}
		})
	}
}
