package dashboard

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/grpc"

	"github.com/edgeplane/edgeplane/controlplane/internal/alerts"
	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Prefix is the path every dashboard URL starts with.
const Prefix = "/ui/"

// Config configures a Dashboard.
type Config struct {
	// Conn reaches the control plane's gRPC services (in process). Required.
	Conn grpc.ClientConnInterface
	// Authenticate returns the principal a bearer token stands for (auth.ErrUnauthenticated
	// wrapped when it stands for none). Required when Enforced.
	Authenticate func(ctx context.Context, token string) (auth.Principal, error)
	// Enforced: visitors must log in with an API token. Off, every visitor is auth.Insecure.
	Enforced bool
	// Policy is the method table; it decides which buttons a role sees (the API enforces it
	// again on every call). Required.
	Policy *auth.Policy
	// Rules are the alert rules in force, shown on the Alerts page.
	Rules []alerts.Rule
	// SecureCookies marks cookies Secure even on plaintext requests (a TLS proxy in front).
	SecureCookies bool
	// SessionTTL is how long a session lives after its last request. Default 1h; at most
	// MaxSessionAge after login either way.
	SessionTTL time.Duration
	// MaxSessions bounds the sessions kept; the least recently used goes first. Default 1024.
	MaxSessions int
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// MaxSessionAge is the longest a session lives, however active.
const MaxSessionAge = 12 * time.Hour

// Dashboard is the dashboard's http.Handler. It is safe for concurrent use.
type Dashboard struct {
	cfg      Config
	log      *slog.Logger
	key      [32]byte // signs CSRF tokens; new per process
	sessions *sessions
	history  *history
	mux      *http.ServeMux

	fleet  edgeplanev1.FleetServiceClient
	routes edgeplanev1.RoutingServiceClient
	certs  edgeplanev1.CertificateServiceClient
	docker edgeplanev1.DockerServiceClient
	tel    edgeplanev1.TelemetryServiceClient
}

// New returns a Dashboard serving under Prefix.
func New(cfg Config) *Dashboard {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = time.Hour
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 1024
	}
	d := &Dashboard{cfg: cfg, log: cfg.Logger, sessions: newSessions(cfg.SessionTTL, cfg.MaxSessions), history: newHistory(),
		fleet: edgeplanev1.NewFleetServiceClient(cfg.Conn), routes: edgeplanev1.NewRoutingServiceClient(cfg.Conn),
		certs: edgeplanev1.NewCertificateServiceClient(cfg.Conn), docker: edgeplanev1.NewDockerServiceClient(cfg.Conn),
		tel: edgeplanev1.NewTelemetryServiceClient(cfg.Conn)}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	_, _ = rand.Read(d.key[:])
	d.mux = d.routesMux()
	return d
}

// ServeHTTP serves the dashboard's paths with the security headers on every response.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	d.mux.ServeHTTP(w, r)
}

// csp allows nothing but this origin's own files: no inline script or style, no frames,
// forms posting only here.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (d *Dashboard) routesMux() *http.ServeMux {
	m := http.NewServeMux()
	m.Handle("GET /ui/static/", staticHandler())
	m.HandleFunc("GET /ui/login", d.loginPage)
	m.HandleFunc("POST /ui/login", d.login)
	m.HandleFunc("POST /ui/logout", d.authed(d.logout))
	m.HandleFunc("GET /ui/{$}", d.authed(d.fleetPage))
	m.HandleFunc("GET /ui/fleet", d.authed(d.fleetPage))
	m.HandleFunc("GET /ui/routes", d.authed(d.routesPage))
	m.HandleFunc("GET /ui/routes/{name}", d.authed(d.routePage))
	m.HandleFunc("GET /ui/certificates", d.authed(d.certsPage))
	m.HandleFunc("POST /ui/certificates/{name}/renew", d.authed(d.renew))
	m.HandleFunc("GET /ui/services", d.authed(d.servicesPage))
	m.HandleFunc("GET /ui/services/{name}", d.authed(d.servicePage))
	m.HandleFunc("GET /ui/alerts", d.authed(d.alertsPage))
	m.HandleFunc("GET /ui/traffic", d.authed(d.trafficPage))
	m.HandleFunc("GET /ui/trace", d.authed(d.tracePage))
	m.HandleFunc("GET /ui/logs", d.authed(d.logsPage))
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) { d.fail(w, r, nil, http.StatusNotFound, "no such page") })
	return m
}
