package page

import (
	"strings"
	"testing"
)

func TestFit_CutsAtTheBudgetAndResumes(t *testing.T) {
	all := []string{"a", "bb", "ccc", "dddd", "eeeee"}
	key := func(s string) string { return s }
	size := func(s string) int { return len(s) }
	items, next, err := Slice(all, key, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	kept, next := Fit(items, key, size, 6, next)
	if strings.Join(kept, ",") != "a,bb,ccc" {
		t.Fatalf("first page: got %v, want a,bb,ccc (6 bytes)", kept)
	}
	items, next, _ = Slice(all, key, 0, next)
	kept, next = Fit(items, key, size, 6, next)
	if strings.Join(kept, ",") != "dddd" || next == "" {
		t.Fatalf("second page: got %v (next %q), want dddd and a next page", kept, next)
	}
	items, next, _ = Slice(all, key, 0, next)
	kept, next = Fit(items, key, size, 2, next)
	if strings.Join(kept, ",") != "eeeee" || next != "" {
		t.Errorf("last page: got %v (next %q), want eeeee alone though over the budget, and no next page", kept, next)
	}
}
