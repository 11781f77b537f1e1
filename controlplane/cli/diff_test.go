package main

import (
	"strings"
	"testing"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func TestPrintDiff_LinesColoursAndCounts(t *testing.T) {
	changes := []*edgeplanev1.ConfigChange{
		{Kind: "route", Name: "a", Action: edgeplanev1.ConfigAction_CONFIG_ACTION_CREATED},
		{Kind: "route", Name: "b", Action: edgeplanev1.ConfigAction_CONFIG_ACTION_CHANGED, Fields: []string{"hosts", "tls.mode"}},
		{Kind: "route", Name: "c", Action: edgeplanev1.ConfigAction_CONFIG_ACTION_DELETED},
		{Kind: "certificate", Name: "d", Action: edgeplanev1.ConfigAction_CONFIG_ACTION_UNCHANGED},
	}
	var plain, color strings.Builder
	printDiff(&plain, changes, false)
	want := "+ route/a created\n~ route/b changed: hosts, tls.mode\n- route/c deleted\n1 created, 1 changed, 1 deleted, 1 unchanged\n"
	if plain.String() != want {
		t.Errorf("got\n%s\nwant\n%s", plain.String(), want)
	}
	printDiff(&color, changes, true)
	for _, code := range []string{"\x1b[32m+ route/a", "\x1b[33m~ route/b", "\x1b[31m- route/c"} {
		if !strings.Contains(color.String(), code) {
			t.Errorf("coloured diff %q lacks %q", color.String(), code)
		}
	}
}
