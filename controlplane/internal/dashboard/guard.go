package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"

	"google.golang.org/grpc/metadata"

	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// Cookie names.
const (
	sessionCookie = "ep_session"
	csrfField     = "csrf"
)

// maxIDLen bounds a cookie value the dashboard reads.
const maxIDLen = 64

// visitor is who is asking, with what to show them.
type visitor struct {
	Who      auth.Principal
	Insecure bool   // authentication is off: every visitor is admin
	CSRF     string // the token every form posts back
	token    string // the API token of the session ("" when Insecure)
	cookie   string // the session cookie's value
}

// ctx returns a context that carries the visitor's token to the gRPC services.
func (v visitor) ctx(r *http.Request) context.Context {
	ctx := r.Context()
	if v.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+v.token)
	}
	return ctx
}

// may reports whether the visitor's role may call method (the API checks again).
func (d *Dashboard) may(v visitor, method string) bool {
	if v.Insecure {
		return true
	}
	_, err := d.cfg.Policy.Authorize(v.Who, method)
	return err == nil
}

// authed wraps h: it finds the visitor (or sends them to log in) and refuses a POST whose
// CSRF token does not match the session cookie.
func (d *Dashboard) authed(h func(http.ResponseWriter, *http.Request, visitor)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ok, err := d.visitor(w, r)
		if err != nil {
			d.fail(w, r, nil, http.StatusServiceUnavailable, "cannot check the session's token now: "+err.Error())
			return
		}
		if !ok {
			if r.Method == http.MethodGet && !wantsJSON(r) {
				http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
				return
			}
			d.fail(w, r, nil, http.StatusUnauthorized, "log in first")
			return
		}
		if r.Method == http.MethodPost && !d.checkCSRF(w, r, v.cookie) {
			return
		}
		h(w, r, v)
	}
}

// visitor returns the request's visitor. With authentication off everyone is one (a fresh
// cookie is set for the CSRF token); on, only the holder of a live session whose token
// still authenticates. err: the token could not be checked (the token store is down).
func (d *Dashboard) visitor(w http.ResponseWriter, r *http.Request) (visitor, bool, error) {
	id := cookieValue(r)
	if !d.cfg.Enforced {
		if id == "" {
			id = newID()
			d.setCookie(w, r, id, 0)
		}
		return visitor{Who: auth.Insecure, Insecure: true, CSRF: d.csrf(id), cookie: id}, true, nil
	}
	se, ok := d.sessions.get(id, clock.Now())
	if !ok {
		return visitor{}, false, nil
	}
	who, err := d.cfg.Authenticate(r.Context(), se.token) // cached: a deleted token ends the session
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		d.sessions.remove(id)
		return visitor{}, false, nil
	case err != nil:
		return visitor{}, false, err
	}
	return visitor{Who: who, CSRF: d.csrf(id), token: se.token, cookie: id}, true, nil
}

func cookieValue(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) > maxIDLen {
		return ""
	}
	return c.Value
}

// setCookie sets the session cookie (maxAge 0: until the browser closes; < 0: delete).
func (d *Dashboard) setCookie(w http.ResponseWriter, r *http.Request, id string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || d.cfg.SecureCookies})
}

// csrf is the CSRF token bound to a session cookie's value.
func (d *Dashboard) csrf(cookie string) string {
	m := hmac.New(sha256.New, d.key[:])
	m.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// maxForm bounds a POSTed form.
const maxForm = 4 << 10

// checkCSRF parses the (bounded) form and reports whether its CSRF token matches cookie;
// on false it has answered 403 (or 413).
func (d *Dashboard) checkCSRF(w http.ResponseWriter, r *http.Request, cookie string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		d.fail(w, r, nil, http.StatusRequestEntityTooLarge, "form too large or malformed")
		return false
	}
	got := r.PostForm.Get(csrfField)
	if cookie == "" || got == "" || !hmac.Equal([]byte(got), []byte(d.csrf(cookie))) {
		d.fail(w, r, nil, http.StatusForbidden, "missing or wrong CSRF token: reload the page and try again")
		return false
	}
	return true
}
