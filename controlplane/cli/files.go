package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// A config file holds YAML (or JSON) documents, each one object with its kind:
//
//	kind: Route
//	name: api
//	hosts: [api.example.com]
//	targets: [{url: "http://10.0.0.5:8080"}]
//	labels: {team: web}
//	---
//	kind: Certificate
//	name: shop
//	domains: [shop.example.com]
//	---
//	kind: Service
//	name: whoami
//	image: traefik/whoami:v1.10
//	containerPort: 80
//
// Fields are the API's (protojson: lowerCamelCase or snake_case).

// declared is the set read from files, with where each object came from.
type declared struct {
	routes   []*edgeplanev1.Route
	routeSrc []string
	certs    []*edgeplanev1.Certificate
	certSrc  []string
	svcs     []*edgeplanev1.Service
	svcSrc   []string
}

// maxFileBytes bounds one config file.
const maxFileBytes = 8 << 20

// readSources reads files and directories (their *.yaml, *.yml and *.json files; with
// recursive, also those of subdirectories), or stdin for "-".
func readSources(paths []string, recursive bool, stdin io.Reader) (*declared, error) {
	d := &declared{}
	for _, p := range paths {
		files, err := expand(p, recursive)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if err := d.readFile(f, stdin); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

func expand(p string, recursive bool) ([]string, error) {
	if p == "-" {
		return []string{p}, nil
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{p}, nil
	}
	var out []string
	err = filepath.WalkDir(p, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && path != p && !recursive {
			return filepath.SkipDir
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				out = append(out, path)
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func (d *declared) readFile(name string, stdin io.Reader) error {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxFileBytes {
		return fmt.Errorf("%s: larger than %d bytes", name, maxFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for i := 1; ; i++ {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if doc == nil {
			continue
		}
		if err := d.add(doc, fmt.Sprintf("%s#%d", name, i)); err != nil {
			return fmt.Errorf("%s: document %d: %w", name, i, err)
		}
	}
}

// add decodes one document.
func (d *declared) add(doc any, src string) error {
	obj, ok := doc.(map[string]any)
	if !ok {
		return fmt.Errorf("want a mapping with a kind, got %T", doc)
	}
	kind, _ := obj["kind"].(string)
	delete(obj, "kind")
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	var m proto.Message
	switch strings.ToLower(kind) {
	case "route":
		r := &edgeplanev1.Route{}
		d.routes, d.routeSrc, m = append(d.routes, r), append(d.routeSrc, src), r
	case "certificate":
		c := &edgeplanev1.Certificate{}
		d.certs, d.certSrc, m = append(d.certs, c), append(d.certSrc, src), c
	case "service":
		v := &edgeplanev1.Service{}
		d.svcs, d.svcSrc, m = append(d.svcs, v), append(d.svcSrc, src), v
	case "":
		return errors.New("kind is missing: use Route, Certificate or Service")
	default:
		return fmt.Errorf("kind %q: use Route, Certificate or Service", kind)
	}
	if err := protojson.Unmarshal(b, m); err != nil {
		return fmt.Errorf("%v %q: %w", kind, obj["name"], err)
	}
	return nil
}

var objectField = regexp.MustCompile(`^(routes|certificates|services)\[(\d+)\]\.?(.*)$`)

// locate turns an API field path ("routes[3].hosts[0]") into where the object came from:
// "dir/api.yaml#1: route \"api\": hosts[0]".
func (d *declared) locate(field string) string {
	m := objectField.FindStringSubmatch(field)
	if m == nil {
		return field
	}
	i, _ := strconv.Atoi(m[2])
	switch {
	case m[1] == "routes" && i < len(d.routes):
		return fmt.Sprintf("%s: route %q: %s", d.routeSrc[i], d.routes[i].GetName(), m[3])
	case m[1] == "certificates" && i < len(d.certs):
		return fmt.Sprintf("%s: certificate %q: %s", d.certSrc[i], d.certs[i].GetName(), m[3])
	case m[1] == "services" && i < len(d.svcs):
		return fmt.Sprintf("%s: service %q: %s", d.svcSrc[i], d.svcs[i].GetName(), m[3])
	}
	return field
}
