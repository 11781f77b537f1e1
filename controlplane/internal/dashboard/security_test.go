package dashboard_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/app"
	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

var csrfPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches url and returns the status, the body and the CSRF token in it ("" if none).
func get(t *testing.T, hc *http.Client, u string) (int, string, string) {
	t.Helper()
	res, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	token := ""
	if m := csrfPattern.FindStringSubmatch(string(b)); m != nil {
		token = m[1]
	}
	return res.StatusCode, string(b), token
}

func post(t *testing.T, hc *http.Client, u string, form url.Values) *http.Response {
	t.Helper()
	res, err := hc.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// login logs hc in with token through the login form.
func login(t *testing.T, hc *http.Client, c *control, token string) {
	t.Helper()
	code, _, csrf := get(t, hc, c.URL("login"))
	if code != http.StatusOK || csrf == "" {
		t.Fatalf("login page: got %d with CSRF token %q, want 200 and a token", code, csrf)
	}
	res := post(t, hc, c.URL("login"), url.Values{"csrf": {csrf}, "token": {token}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/" {
		t.Fatalf("login: got %d to %q, want 303 to /ui/", res.StatusCode, res.Header.Get("Location"))
	}
}

// audited finds an audit event with every field of want on the events stream.
func (c *control) audited(t *testing.T, want map[string]string) error {
	rdb := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(c.RedisURL, "redis://")})
	defer rdb.Close()
	msgs, err := rdb.XRange(t.Context(), telemetry.StreamNames(c.Namespace+":").Events, "-", "+").Result()
	if err != nil {
		return err
	}
	for _, m := range msgs {
		match := m.Values["event_type"] == (&event.Audit{}).Type()
		for k, v := range want {
			match = match && m.Values[k] == v
		}
		if match {
			return nil
		}
	}
	return fmt.Errorf("no audit event with %v among %d events: %v", want, len(msgs), msgs)
}

// failingCert creates an ACME certificate whose directory cannot be reached, so it fails
// and can be renewed.
func failingCert(t *testing.T, c *control, name string) {
	t.Helper()
	_, err := c.Certs().CreateCertificate(c.ctx(t), &edgeplanev1.CreateCertificateRequest{Certificate: &edgeplanev1.Certificate{
		Name: name, Domains: []string{name + ".test"}, AcmeDirectory: "https://127.0.0.1:1/directory"}})
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
}

func TestDashboard_LoginRequired(t *testing.T) {
	c := startControl(t, redistest.New(t), true)
	hc := browserless(t)
	for _, page := range []string{"", "fleet", "routes", "routes/x", "certificates", "services", "alerts", "traffic", "trace", "logs"} {
		res, err := hc.Get(c.URL(page))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/login" {
			t.Errorf("/ui/%s without a session: got %d to %q, want 303 to /ui/login", page, res.StatusCode, res.Header.Get("Location"))
		}
	}
	_, _, csrf := get(t, hc, c.URL("login"))
	res := post(t, hc, c.URL("login"), url.Values{"csrf": {csrf}, "token": {"ept_not-a-token"}})
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("login with an unknown token: got %d, want 401", res.StatusCode)
	}
	if code, _, _ := get(t, hc, c.URL("fleet")); code != http.StatusSeeOther {
		t.Errorf("fleet after a refused login: got %d, want 303 to the login page", code)
	}
	login(t, hc, c, c.newToken(t, "watcher", "viewer"))
	if code, body, _ := get(t, hc, c.URL("fleet")); code != http.StatusOK || !strings.Contains(body, `id="agents"`) {
		t.Errorf("fleet after login: got %d, want 200 with the agents table", code)
	}
}

// A viewer sees no Renew button, and a renewal it forges (with a valid CSRF token) is
// refused by the API's method table; an operator's goes through.
func TestDashboard_ViewerCannotRenew(t *testing.T) {
	c := startControl(t, redistest.New(t), true)
	failingCert(t, c, "site")
	viewer := browserless(t)
	login(t, viewer, c, c.newToken(t, "watcher", "viewer"))
	code, body, csrf := get(t, viewer, c.URL("certificates"))
	if code != http.StatusOK || !strings.Contains(body, `id="cert-site"`) {
		t.Fatalf("certificates as viewer: got %d, want 200 listing site", code)
	}
	if strings.Contains(body, "renew-site") {
		t.Error("a viewer is shown the Renew button")
	}
	if res := post(t, viewer, c.URL("certificates/site/renew"), url.Values{"csrf": {csrf}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer's forged renewal: got %d, want 403", res.StatusCode)
	}
	// The refusal is the API's: audited like any refused call, naming the viewer.
	eventually(t, 10*time.Second, func() error {
		return c.audited(t, map[string]string{"principal": "watcher", "method": "/edgeplane.v1.CertificateService/RenewCertificate",
			"outcome": "PermissionDenied", "peer": "dashboard", "resource": "site"})
	})
	op := browserless(t)
	login(t, op, c, c.newToken(t, "oncall", "operator"))
	_, body, csrf = get(t, op, c.URL("certificates"))
	if !strings.Contains(body, `id="renew-site"`) {
		t.Error("an operator is not shown the Renew button")
	}
	res := post(t, op, c.URL("certificates/site/renew"), url.Values{"csrf": {csrf}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/certificates?renewed=site" {
		t.Errorf("operator's renewal: got %d to %q, want 303 to /ui/certificates?renewed=site", res.StatusCode, res.Header.Get("Location"))
	}
	eventually(t, 10*time.Second, func() error {
		return c.audited(t, map[string]string{"principal": "oncall", "method": "/edgeplane.v1.CertificateService/RenewCertificate", "outcome": "ok", "peer": "dashboard"})
	})
}

func TestDashboard_PostWithoutCSRFIsRefused(t *testing.T) {
	c := startControl(t, redistest.New(t), true)
	failingCert(t, c, "site")
	op := browserless(t)
	login(t, op, c, c.newToken(t, "oncall", "operator"))
	_, _, csrf := get(t, op, c.URL("certificates"))
	other := browserless(t)
	login(t, other, c, c.newToken(t, "other", "operator"))
	_, _, otherCSRF := get(t, other, c.URL("certificates"))
	tests := []struct {
		name string
		path string
		form url.Values
	}{
		{"renew without a token", "certificates/site/renew", url.Values{}},
		{"renew with a wrong token", "certificates/site/renew", url.Values{"csrf": {otherFirstByte(csrf)}}},
		{"renew with another session's token", "certificates/site/renew", url.Values{"csrf": {otherCSRF}}},
		{"logout without a token", "logout", url.Values{}},
		{"login without a token", "login", url.Values{"token": {"ept_x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := post(t, op, c.URL(tt.path), tt.form); res.StatusCode != http.StatusForbidden {
				t.Errorf("got %d, want 403", res.StatusCode)
			}
		})
	}
	if code, _, _ := get(t, op, c.URL("fleet")); code != http.StatusOK {
		t.Errorf("after the refused logout: got %d, want the session still alive (200)", code)
	}
}

func TestDashboard_SecurityHeadersAndCookie(t *testing.T) {
	c := startControl(t, redistest.New(t), true)
	hc := browserless(t)
	res, err := hc.Get(c.URL("login"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for h, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
	} {
		if got := res.Header.Get(h); !strings.HasPrefix(got, want) {
			t.Errorf("%s: got %q, want %q...", h, got, want)
		}
	}
	cookie := res.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/ui/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
}

func TestDashboard_BoundsOnInput(t *testing.T) {
	c := startControl(t, redistest.New(t), false)
	failingCert(t, c, "site")
	hc := browserless(t)
	_, _, csrf := get(t, hc, c.URL("certificates"))
	tests := []struct {
		name string
		do   func() int
		want int
	}{
		{"search of 129 characters", func() int { code, _, _ := get(t, hc, c.URL("routes?q="+strings.Repeat("a", 129))); return code }, http.StatusBadRequest},
		{"search of 128 characters", func() int { code, _, _ := get(t, hc, c.URL("routes?q="+strings.Repeat("a", 128))); return code }, http.StatusOK},
		{"log search by a malformed component", func() int { code, _, _ := get(t, hc, c.URL("logs?component=%3Cscript%3E")); return code }, http.StatusBadRequest},
		{"log search by an unknown level", func() int { code, _, _ := get(t, hc, c.URL("logs?level=LOUD")); return code }, http.StatusBadRequest},
		{"log search by component", func() int { code, _, _ := get(t, hc, c.URL("logs?component=fanout&level=INFO")); return code }, http.StatusOK},
		{"malformed trace id", func() int { code, _, _ := get(t, hc, c.URL("trace?id=zz")); return code }, http.StatusBadRequest},
		{"unknown trace", func() int { code, _, _ := get(t, hc, c.URL("trace?id="+strings.Repeat("ab", 16))); return code }, http.StatusOK},
		{"bad certificate name", func() int {
			return post(t, hc, c.URL("certificates/Bad%20Name/renew"), url.Values{"csrf": {csrf}}).StatusCode
		}, http.StatusBadRequest},
		{"form over 4 KiB", func() int {
			return post(t, hc, c.URL("certificates/site/renew"), url.Values{"csrf": {csrf}, "pad": {strings.Repeat("x", 5000)}}).StatusCode
		}, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.do(); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

// Without authentication (--insecure, --dev) pages need no login and say so.
func TestDashboard_InsecureModeSaysSo(t *testing.T) {
	c := startControl(t, redistest.New(t), false)
	hc := browserless(t)
	code, body, _ := get(t, hc, c.URL("fleet"))
	if code != http.StatusOK || !strings.Contains(body, `id="insecure-banner"`) {
		t.Errorf("fleet without auth: got %d, banner shown %v; want 200 with the INSECURE banner", code, strings.Contains(body, "insecure-banner"))
	}
	res, err := hc.Get("http://" + c.HTTPAddr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/" {
		t.Errorf("/: got %d to %q, want 303 to /ui/", res.StatusCode, res.Header.Get("Location"))
	}
}

// Deleting a token ends the sessions logged in with it (within the token cache's TTL).
func TestDashboard_DeletedTokenEndsSession(t *testing.T) {
	c := startControl(t, redistest.New(t), true)
	hc := browserless(t)
	login(t, hc, c, c.newToken(t, "leaver", "viewer"))
	if code, _, _ := get(t, hc, c.URL("fleet")); code != http.StatusOK {
		t.Fatalf("fleet after login: got %d, want 200", code)
	}
	admin, closeAdmin, err := app.OpenTokenAdmin(c.RedisURL, c.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAdmin()
	if err := admin.Delete(t.Context(), "leaver"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() error {
		if code, _, _ := get(t, hc, c.URL("fleet")); code != http.StatusSeeOther {
			return fmt.Errorf("fleet after the token was deleted: got %d, want 303 to the login page", code)
		}
		return nil
	})
}

// otherFirstByte returns tok with its first byte changed, so it is a different token
// whatever tok begins with (a fixed replacement letter matched 1 token in 64).
func otherFirstByte(tok string) string {
	if tok[0] == 'x' {
		return "y" + tok[1:]
	}
	return "x" + tok[1:]
}
