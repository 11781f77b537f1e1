package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/goccy/go-yaml"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// table is a list's columns: a header and one row per item.
type table struct {
	header []string
	row    func(proto.Message) []string
}

// printList prints items in the chosen format: a table, or a YAML or JSON list.
func (a *app) printList(w io.Writer, items []proto.Message, t table) error {
	switch a.output {
	case "table", "":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.header, "\t"))
		for _, m := range items {
			fmt.Fprintln(tw, strings.Join(t.row(m), "\t"))
		}
		return tw.Flush()
	case "json", "yaml":
		raws := make([]json.RawMessage, len(items))
		for i, m := range items {
			b, err := protojson.Marshal(m)
			if err != nil {
				return err
			}
			raws[i] = b
		}
		b, err := json.Marshal(raws)
		if err != nil {
			return err
		}
		return a.emit(w, b)
	}
	return fmt.Errorf("-o %q: use table, yaml or json", a.output)
}

// printOne prints one object as YAML (table and yaml) or JSON.
func (a *app) printOne(w io.Writer, m proto.Message) error {
	b, err := protojson.Marshal(m)
	if err != nil {
		return err
	}
	if a.output == "table" {
		return writeYAML(w, b)
	}
	return a.emit(w, b)
}

// emit writes JSON b as indented JSON or as YAML.
func (a *app) emit(w io.Writer, b []byte) error {
	switch a.output {
	case "json":
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			return err
		}
		out.WriteByte('\n')
		_, err := w.Write(out.Bytes())
		return err
	case "yaml", "table":
		return writeYAML(w, b)
	}
	return fmt.Errorf("-o %q: use table, yaml or json", a.output)
}

func writeYAML(w io.Writer, jsonDoc []byte) error {
	y, err := yaml.JSONToYAML(jsonDoc)
	if err != nil {
		return err
	}
	_, err = w.Write(y)
	return err
}

// describeErr renders an API error: its code and message, then every field violation.
func describeErr(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", st.Code(), st.Message())
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fmt.Fprintf(&b, "\n  %s: %s", v.GetField(), v.GetDescription())
			}
		}
	}
	return b.String()
}

// colors says whether to colour output written to stdout.
func (a *app) colors() bool {
	switch a.color {
	case "always":
		return true
	case "never":
		return false
	}
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == ""
}
