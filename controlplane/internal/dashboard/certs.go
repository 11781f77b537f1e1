package dashboard

import (
	"github.com/edgeplane/edgeplane/internal/clock"
	"net/http"
	"net/url"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

const renewMethod = "/edgeplane.v1.CertificateService/RenewCertificate"

type certRow struct {
	*edgeplanev1.Certificate
	Status string // READY, FAILED, ...
}

type certsData struct {
	Certs    []certRow
	Timeline *timeline
	CanRenew bool
	More     bool
	Renewed  string // the certificate a renewal was just requested for
}

// certsPage lists certificates with an expiry timeline; operators get a Renew button.
func (d *Dashboard) certsPage(w http.ResponseWriter, r *http.Request, v visitor) {
	res, err := d.certs.ListCertificates(v.ctx(r), &edgeplanev1.ListCertificatesRequest{PageSize: listSize})
	if err != nil {
		d.fail(w, r, err, 0, "")
		return
	}
	data := certsData{CanRenew: d.may(v, renewMethod), More: res.GetNextPageToken() != ""}
	if n := r.URL.Query().Get("renewed"); len(n) <= maxSearch {
		data.Renewed = n
	}
	for _, c := range res.GetCertificates() {
		data.Certs = append(data.Certs, certRow{Certificate: c, Status: enumName("CERTIFICATE_STATUS_", c.GetStatus())})
	}
	data.Timeline = certTimeline(data.Certs, clock.Now())
	d.render(w, r, http.StatusOK, "certificates", page{Title: "Certificates", Nav: "certificates", Refresh: 5000, V: v, Data: data})
}

// renew asks CertificateService to renew a certificate, as the visitor: a viewer's call is
// refused by the API (403 here), whatever the form said.
func (d *Dashboard) renew(w http.ResponseWriter, r *http.Request, v visitor) {
	name := r.PathValue("name")
	if err := model.ValidateName(name); err != nil {
		d.fail(w, r, nil, http.StatusBadRequest, "certificate name: "+err.Error())
		return
	}
	_, err := d.certs.RenewCertificate(v.ctx(r), &edgeplanev1.RenewCertificateRequest{Name: name})
	d.log.InfoContext(r.Context(), "dashboard action", "action", "renew", "certificate", name,
		"principal", v.Who.Name, "remote", r.RemoteAddr, "err", err)
	if err != nil {
		d.fail(w, r, err, 0, "")
		return
	}
	http.Redirect(w, r, Prefix+"certificates?renewed="+url.QueryEscape(name), http.StatusSeeOther)
}
