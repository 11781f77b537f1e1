package proxy

import (
	"math"
	"strings"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// defaultUpgrades are the Upgrade protocols a route allows when it names none.
var defaultUpgrades = []string{"websocket"}

// applyRouteLimits sets rt's per-route hardening options from src, with the agent's
// defaults where src leaves them unset.
func (p *Proxy) applyRouteLimits(rt *Route, src *edgeplanev1.Route) {
	rt.maxBody = p.limits.MaxBodyBytes
	if n := src.GetMaxBodyBytes(); n > 0 {
		rt.maxBody = int64(min(n, math.MaxInt64))
	}
	rt.upgrades = defaultUpgrades
	if ups := src.GetUpgradeProtocols(); len(ups) > 0 {
		rt.upgrades = make([]string, len(ups))
		for i, u := range ups {
			rt.upgrades[i] = strings.ToLower(strings.TrimSpace(u))
		}
	}
	rt.underscores = src.GetAllowUnderscoresInHeaders()
	rt.slashes = src.GetEncodedSlashes()
	rt.keepEmpty = src.GetKeepEmptySegments()
}

// allowsUpgrade reports whether every protocol an Upgrade header value offers is one the
// route allows (the version after '/' is ignored: "websocket/13" is websocket).
func (r *Route) allowsUpgrade(value string) bool {
	offered := false
	for tok := range strings.SplitSeq(value, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		name, _, _ := strings.Cut(tok, "/")
		if !containsFold(r.upgrades, name) {
			return false
		}
		offered = true
	}
	return offered
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
