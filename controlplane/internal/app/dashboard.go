package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/edgeplane/edgeplane/controlplane/internal/alerts"
	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	"github.com/edgeplane/edgeplane/controlplane/internal/dashboard"
)

// Dashboard modes (Config.Dashboard).
const (
	// DashboardAuto serves the dashboard when --http-addr is loopback, so neither API tokens
	// nor (with authentication off) admin pages reach the network in plaintext. The default.
	DashboardAuto = "auto"
	// DashboardOn serves it on any --http-addr; with authentication on, its cookies are
	// Secure (a TLS proxy must front it). Refused with authentication off on a
	// non-loopback address.
	DashboardOn = "on"
	// DashboardOff never serves it.
	DashboardOff = "off"
)

// dashboardConn is the in-process pipe from the dashboard to the gRPC server.
type dashboardConn struct {
	ln   net.Listener
	conn *grpc.ClientConn
}

// pipeListener names the dashboard as the peer of its calls, so audit events say
// "peer=dashboard" (the dashboard logs the browser's address with each action).
type pipeListener struct{ *bufconn.Listener }

func (l pipeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return pipeConn{c}, nil
}

type pipeConn struct{ net.Conn }

func (pipeConn) RemoteAddr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "dashboard" }

// dashboardURL is where the dashboard is served ("" when it is not).
func (a *App) dashboardURL() string {
	if a.dash == nil {
		return ""
	}
	return "http://" + a.HTTPAddr() + dashboard.Prefix
}

// DashboardURL returns the dashboard's URL, "" when it is not served.
func (a *App) DashboardURL() string { return a.dashboardURL() }

// checkDashboard fails fast on a dashboard mode that would expose admin pages.
func (a *App) checkDashboard() error {
	switch a.cfg.Dashboard {
	case "", DashboardAuto, DashboardOff:
		return nil
	case DashboardOn:
		if !a.tlsOn() && a.cfg.HTTPAddr != "-" && !loopback(a.cfg.HTTPAddr) {
			return fmt.Errorf("--dashboard on with --http-addr %s: without authentication (--dev, --insecure) the dashboard "+
				"makes every visitor admin, so it is served only on a loopback --http-addr", a.cfg.HTTPAddr)
		}
		return nil
	}
	return fmt.Errorf("--dashboard %q: use auto, on or off", a.cfg.Dashboard)
}

// dashboardWanted says whether to serve the dashboard, logging why not when auto says no.
func (a *App) dashboardWanted() bool {
	switch {
	case a.cfg.Dashboard == DashboardOff || a.httpLn == nil:
		return false
	case a.cfg.Dashboard == DashboardOn || loopback(a.cfg.HTTPAddr):
		return true
	}
	a.log.Info("dashboard off: --http-addr " + a.cfg.HTTPAddr + " is not loopback and serves plaintext HTTP; " +
		"reach a loopback --http-addr through an SSH tunnel, or put a TLS proxy in front and pass --dashboard on")
	return false
}

// buildDashboard makes the dashboard, talking to this replica's gRPC server over an
// in-process pipe, so every page is an API call with the visitor's token through the same
// interceptors (authentication, the method table, audit) as grpcurl's.
func (a *App) buildDashboard() error {
	if !a.dashboardWanted() {
		return nil
	}
	ln := bufconn.Listen(1 << 20)
	creds := insecure.NewCredentials()
	if a.tlsOn() {
		creds = credentials.NewTLS(pipeTLS(a.ca.Pool()))
	}
	conn, err := grpc.NewClient("passthrough:///dashboard",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("dashboard connection: %w", err)
	}
	rules := a.cfg.AlertRules
	if rules == nil {
		rules = alerts.DefaultRules()
	}
	a.dashPipe = &dashboardConn{ln: pipeListener{ln}, conn: conn}
	a.dash = dashboard.New(dashboard.Config{Conn: conn, Enforced: a.authEnforced(), Policy: a.policy, Rules: rules,
		Authenticate: a.authenticateToken, SecureCookies: a.tlsOn() && !loopback(a.cfg.HTTPAddr),
		Logger: a.log.With("component", "dashboard")})
	return nil
}

// authenticateToken says who a bearer token stands for, as the gRPC guard would.
func (a *App) authenticateToken(ctx context.Context, token string) (auth.Principal, error) {
	return a.authn.Authenticate(metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer "+token)))
}

// pipeTLS verifies the server's chain against the cluster CA. The pipe is in memory and has
// no host name to check, so no name is.
func pipeTLS(roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection: the chain, without a host name
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the control plane sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		},
	}
}

// mountDashboard adds the dashboard to the HTTP mux, with / sending browsers to it.
func (a *App) mountDashboard(mux *http.ServeMux) {
	if a.dash == nil {
		return
	}
	mux.Handle(dashboard.Prefix, a.dash)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, dashboard.Prefix, http.StatusSeeOther)
	})
}
