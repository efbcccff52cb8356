package investigator

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/skip2/go-qrcode"

	"testimony/crypto"
	"testimony/records"
	"testimony/server/web"
	"testimony/store"
)

type passphraseData struct{ Min int }

type accountData struct {
	Name, Recipient, KeyFP string
	Min                    int
}

func (s *Site) passphrasePage(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.render(w, http.StatusOK, "passphrase", invPage{Title: invText("inv.title.first"), User: p,
		Data: passphraseData{crypto.MinPassphrase}})
}

func (s *Site) accountPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.accountPageWith(w, http.StatusOK, p, doneText(r.URL.Query().Get("done")), "")
}

func (s *Site) accountPageWith(w http.ResponseWriter, status int, p *principal, flash, errMsg string) error {
	return s.render(w, status, "account", invPage{Title: invText("inv.title.account"), User: p, Flash: flash, Error: errMsg,
		Data: accountData{Name: p.Name, Recipient: p.Recipient, KeyFP: crypto.Fingerprint(p.Recipient), Min: crypto.MinPassphrase}})
}

// checkSecrets verifies an investigator's passphrase and, if code is not
// nil, a TOTP code, for a change of their own account. It counts a failure
// toward the account's back-off, as a login does. On success it returns the
// matched TOTP step (0 without a code).
func (s *Site) checkSecrets(r *http.Request, p *principal, pass string, code *string) (int64, bool, error) {
	var acc *records.Account
	var st *records.LoginState
	err := s.db.View(func(tx store.Tx) error {
		var err error
		if acc, err = records.GetAccount(tx, p.Name); err != nil {
			return err
		}
		st, err = records.GetLoginState(tx, p.Name)
		return err
	})
	if err != nil {
		return 0, false, err
	}
	if s.backoff.busy(p.Name, s.cfg.Now()) {
		return 0, false, nil // refused uncounted, as a login is
	}
	release, err := s.acquireArgon(r)
	if err != nil {
		return 0, false, err
	}
	now := s.cfg.Now()
	ok := crypto.VerifyPassphrase(acc.Passphrase, pass)
	var step int64
	if code != nil {
		secret, err := s.accounts().OpenTOTP(p.Name, acc.TOTP)
		if err != nil {
			release()
			return 0, false, err
		}
		step = records.TOTPMatch(secret, strings.ReplaceAll(strings.TrimSpace(*code), " ", ""), now)
		ok = ok && step != 0 && step > st.LastStep
	}
	release()
	if !ok {
		s.backoff.fail(p.Name, now)
		err := s.db.Update(func(tx store.Tx) error {
			cur, err := records.GetLoginState(tx, p.Name)
			if err != nil {
				return err
			}
			cur.Failures++
			if err := records.PutLoginState(tx, p.Name, cur); err != nil {
				return err
			}
			return records.AppendAudit(tx, now, records.AuditEntry{Account: p.Name, Event: "account_check_failed"})
		})
		return 0, false, err
	}
	return step, true, nil
}

// changePassphrase serves both the forced first change and the account
// page's. It ends every session of the account and gives this browser a
// new one.
func (s *Site) changePassphrase(forced bool) authed {
	return func(w http.ResponseWriter, r *http.Request, p *principal) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		cur, nw, confirm := r.PostForm.Get("current"), r.PostForm.Get("new"), r.PostForm.Get("confirm")
		fail := func(key string) error {
			if forced {
				return s.render(w, http.StatusBadRequest, "passphrase", invPage{Title: invText("inv.title.first"), User: p,
					Error: invText(key), Data: passphraseData{crypto.MinPassphrase}})
			}
			return s.accountPageWith(w, http.StatusBadRequest, p, "", invText(key))
		}
		switch {
		case nw != confirm:
			return fail("inv.passphrase.mismatch")
		case len([]rune(nw)) < crypto.MinPassphrase || len(nw) > crypto.MaxPassphrase:
			return fail("inv.passphrase.short")
		case nw == cur:
			return fail("inv.passphrase.same")
		}
		_, ok, err := s.checkSecrets(r, p, cur, nil)
		if err != nil {
			return err
		}
		if !ok {
			return fail("inv.passphrase.wrong")
		}
		release, err := s.acquireArgon(r)
		if err != nil {
			return err
		}
		h, err := crypto.HashPassphrase(nw, s.argon)
		release()
		if err != nil {
			return err
		}
		var token string
		err = s.db.Update(func(tx store.Tx) error {
			acc, err := records.GetAccount(tx, p.Name)
			if err != nil {
				return err
			}
			acc.Passphrase, acc.MustChange = h, false
			if err := records.PutAccount(tx, p.Name, acc); err != nil {
				return err
			}
			if err := records.ClearFailures(tx, p.Name); err != nil {
				return err
			}
			if err := records.DeleteSessionsOf(tx, p.Name); err != nil {
				return err
			}
			if token, err = records.NewSession(tx, p.Name, s.cfg.Now()); err != nil {
				return err
			}
			return records.AppendAudit(tx, s.cfg.Now(), records.AuditEntry{Account: p.Name, Event: "passphrase_changed"})
		})
		if err != nil {
			return err
		}
		s.setSessionCookie(w, token)
		to := "/account?done=password"
		if forced {
			to = "/?done=password"
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return nil
	}
}

type enrolData struct {
	Secret, URI string
	QR          template.HTML
}

// reenrolTOTP gives the account a new TOTP secret after the passphrase and
// a current code are given again. All its sessions end, this one too; the
// new secret is shown once.
func (s *Site) reenrolTOTP(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	code := r.PostForm.Get("code")
	step, ok, err := s.checkSecrets(r, p, r.PostForm.Get("passphrase"), &code)
	if err != nil {
		return err
	}
	if !ok {
		return s.accountPageWith(w, http.StatusBadRequest, p, "", invText("inv.totp.wrong"))
	}
	secret := records.NewTOTPSecret()
	uri, err := records.TOTPURI(p.Name, secret)
	if err != nil {
		return err
	}
	a := s.accounts()
	err = s.db.Update(func(tx store.Tx) error {
		acc, err := records.GetAccount(tx, p.Name)
		if err != nil {
			return err
		}
		st, err := records.GetLoginState(tx, p.Name)
		if err != nil {
			return err
		}
		if step <= st.LastStep { // used by a concurrent request meanwhile
			return &web.HTTPError{Status: http.StatusBadRequest, Msg: "inv.totp.wrong"}
		}
		acc.TOTP, st.LastStep = a.SealTOTP(p.Name, secret), step
		if err := records.PutAccount(tx, p.Name, acc); err != nil {
			return err
		}
		if err := records.PutLoginState(tx, p.Name, st); err != nil {
			return err
		}
		if err := records.DeleteSessionsOf(tx, p.Name); err != nil {
			return err
		}
		return records.AppendAudit(tx, s.cfg.Now(), records.AuditEntry{Account: p.Name, Event: "totp_reenrolled"})
	})
	if err != nil {
		return err
	}
	s.clearSessionCookie(w)
	return s.render(w, http.StatusOK, "enrol", invPage{Title: invText("inv.title.enrol"),
		Data: enrolData{Secret: secret, URI: uri, QR: qrSVG(uri)}})
}

// qrSVG draws a QR code of text as inline SVG: no image request, no
// script, nothing the CSP has to allow.
func qrSVG(text string) template.HTML {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return ""
	}
	bm := q.Bitmap()
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img" aria-label="QR code"><path d="`, len(bm), len(bm))
	for y, row := range bm {
		for x, on := range row {
			if on {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String())
}
