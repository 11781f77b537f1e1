package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReadSources_DirectoryOfYAMLAndJSON(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", "kind: Route\nname: a\nhosts: [a.test]\n---\nkind: Certificate\nname: shop\ndomains: [shop.test]\n")
	writeFile(t, dir, "b.json", `{"kind": "Route", "name": "b", "hosts": ["b.test"], "pathPrefix": "/v1"}`)
	writeFile(t, dir, "notes.txt", "ignored")
	d, err := readSources([]string{dir}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.routes) != 2 || len(d.certs) != 1 {
		t.Fatalf("got %d routes and %d certificates, want 2 and 1", len(d.routes), len(d.certs))
	}
	if got := d.routes[1].GetPathPrefix(); got != "/v1" {
		t.Errorf("b.json pathPrefix: got %q, want /v1", got)
	}
	if got, want := d.locate("routes[1].hosts[0]"), filepath.Join(dir, "b.json")+`#1: route "b": hosts[0]`; got != want {
		t.Errorf("locate: got %q, want %q", got, want)
	}
	if got, want := d.locate("certificates[0].domains[0]"), filepath.Join(dir, "a.yaml")+`#2: certificate "shop": domains[0]`; got != want {
		t.Errorf("locate: got %q, want %q", got, want)
	}
}

func TestReadSources_BadDocumentsNameFileAndField(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"unknown field", "kind: Route\nname: a\nhostz: [a.test]\n", `unknown field "hostz"`},
		{"no kind", "name: a\n", "kind is missing"},
		{"bad kind", "kind: Router\nname: a\n", `kind "Router"`},
		{"not yaml", "kind: [\n", "document 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "x.yaml", tt.body)
			_, err := readSources([]string{dir}, false, nil)
			if err == nil || !strings.Contains(err.Error(), "x.yaml") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error naming x.yaml and %q", err, tt.want)
			}
		})
	}
}
