// Package dashboard serves the control plane's web dashboard: server-rendered pages (Fleet,
// Routes, Certificates, Services, Alerts, Traffic, Trace lookup) with a small script, both
// embedded in the binary, so no page makes a request beyond its own origin.
//
// The contract:
//   - Every read and every action is a gRPC call to the control plane's own services over
//     Config.Conn, carrying the session's bearer token: authentication, the method table,
//     audit and bounds are the API's, never the dashboard's own. A viewer's forged POST is
//     refused by the same rule that refuses its grpcurl call.
//   - With authentication enforced a visitor logs in with an API token; the session cookie
//     holds a random id (the token stays in this process's memory), is HttpOnly,
//     SameSite=Strict and Secure when the page came over TLS or Config.SecureCookies says a
//     TLS proxy fronts it. Sessions live in one replica's memory: a load balancer in front
//     of several replicas needs sticky sessions.
//   - Without authentication (--dev, --insecure) anyone who reaches the page is admin, and
//     every page says so.
//   - Every POST carries a CSRF token bound to the session cookie (HMAC with a per-process
//     key); a POST without it is refused 403 before anything else runs.
//   - Responses carry a strict Content-Security-Policy (scripts, styles and images from
//     'self' only, no inline code), X-Frame-Options DENY and nosniff.
//   - Everything a client sends is bounded: form bodies, search strings, names, trace ids.
//
// Pages work with JavaScript off; with it on, the script polls the page's own URL with
// "Accept: application/json" and swaps in the re-rendered live region.
package dashboard
