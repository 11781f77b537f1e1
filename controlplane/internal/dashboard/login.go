package dashboard

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// maxTokenLen bounds the API token a login form may carry.
const maxTokenLen = 256

// loginPage shows the token form; a visitor without a cookie gets a fresh one to bind the
// form's CSRF token to.
func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	if !d.cfg.Enforced {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	d.showLogin(w, r, http.StatusOK, "")
}

func (d *Dashboard) showLogin(w http.ResponseWriter, r *http.Request, code int, msg string) {
	id := cookieValue(r)
	if id == "" {
		id = newID()
		d.setCookie(w, r, id, 0)
	}
	d.render(w, r, code, "login", page{Title: "Log in", Error: msg, V: visitor{CSRF: d.csrf(id)}})
}

// login checks the posted token and, if it authenticates, starts a session under a new id.
func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	if !d.cfg.Enforced {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	if !d.checkCSRF(w, r, cookieValue(r)) {
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" || len(token) > maxTokenLen {
		d.showLogin(w, r, http.StatusBadRequest, "Paste an API token (edgeplane-control token create).")
		return
	}
	who, err := d.cfg.Authenticate(r.Context(), token)
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		d.log.InfoContext(r.Context(), "dashboard login refused", "remote", r.RemoteAddr, "err", err)
		d.showLogin(w, r, http.StatusUnauthorized, "That token is unknown, expired or cannot log in.")
		return
	case err != nil:
		d.showLogin(w, r, http.StatusServiceUnavailable, "Cannot check tokens now: "+err.Error())
		return
	}
	id := d.sessions.create(token, who, clock.Now())
	d.setCookie(w, r, id, int(MaxSessionAge/time.Second))
	d.log.InfoContext(r.Context(), "dashboard login", "principal", who.Name, "role", who.Role, "remote", r.RemoteAddr)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// logout ends the session.
func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request, v visitor) {
	d.sessions.remove(v.cookie)
	d.setCookie(w, r, "", -1)
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}
