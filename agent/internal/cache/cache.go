// Package cache keeps the agent's last applied config on disk, so a restarted agent serves
// at once, before (or without) reaching the control plane.
//
// The file is a ConfigUpdate snapshot (revision, routes, certificates with their private
// keys, ACME challenges) in protobuf binary form, sealed with AES-256-GCM under a key kept
// beside it (seal.go), readable by its owner only (0600, in a 0700 directory). A cache
// written unsealed by an older agent is still read, and sealed when next saved. Save replaces it atomically: a reader sees the old file or the new one,
// never a mix.
package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// FileName is the name of the cache file inside the cache directory.
const FileName = "config.binpb"

// Load reads the cached config from dir. If there is none, the error wraps fs.ErrNotExist.
func Load(dir string) (*edgeplanev1.ConfigUpdate, error) {
	b, err := ReadSealed(dir, FileName)
	if err != nil {
		return nil, fmt.Errorf("reading config cache: %w", err)
	}
	u := &edgeplanev1.ConfigUpdate{}
	if err := proto.Unmarshal(b, u); err != nil {
		return nil, fmt.Errorf("decoding config cache %s: %w", filepath.Join(dir, FileName), err)
	}
	if !u.GetSnapshot() {
		return nil, fmt.Errorf("config cache %s is not a snapshot", filepath.Join(dir, FileName))
	}
	return u, nil
}

// Save writes the snapshot u to dir, creating dir if needed. It writes a temporary file
// (mode 0600), fsyncs it, renames it over the cache file and fsyncs dir, so the cache
// survives a crash at any point either as it was or as saved.
func Save(dir string, u *edgeplanev1.ConfigUpdate) error {
	if !u.GetSnapshot() {
		return fmt.Errorf("config cache: revision %d is not a snapshot", u.GetRevision())
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(u)
	if err != nil {
		return fmt.Errorf("encoding config cache: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating cache directory: %w", err)
	}
	if err := WriteSealed(dir, FileName, b); err != nil {
		return fmt.Errorf("writing config cache: %w", err)
	}
	return nil
}

func writeFile(dir, name string, b []byte) (err error) {
	f, err := os.CreateTemp(dir, name+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(b); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Some file systems cannot fsync a directory; that
// is not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return err
	}
	return nil
}
