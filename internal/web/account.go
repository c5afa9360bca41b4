package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/leakwatch/leakwatch/internal/auth"
	"github.com/leakwatch/leakwatch/storage"
)

// totpIssuer names leakwatch in authenticator apps.
const totpIssuer = "leakwatch"

// Refusals of account actions a user can fix; their text is shown as is.
var (
	errMFAAlreadyOn = errors.New("two-step login is already on for your account; to move it to a new phone, ask an administrator to reset it")
	errMFANotOn     = errors.New("two-step login is not on for your account yet")
	errMFABadCode   = errors.New("that code is not right (or was already used); enter the current 6-digit code from your app")
	errNoPending    = errors.New("the set-up expired; open the set-up page again")
)

// accountData is the "My account" page and GET /api/account.
type accountData struct {
	Username          string       `json:"username"`
	Role              storage.Role `json:"role"`
	MFAEnrolled       bool         `json:"mfa_enrolled"`
	MFARequired       bool         `json:"mfa_required"`
	RecoveryCodesLeft int          `json:"recovery_codes_left"`
}

func (s *Server) accountData(ctx context.Context, a *authed) (accountData, error) {
	d := accountData{Username: a.user.Username, Role: a.user.Role, MFAEnrolled: a.user.MFAEnrolled(),
		MFARequired: a.user.MFARequired()}
	if d.MFAEnrolled {
		n, err := s.store.RecoveryCodesLeft(ctx, a.user.ID)
		if err != nil {
			return d, err
		}
		d.RecoveryCodesLeft = n
	}
	return d, nil
}

// pendingSecret returns the TOTP secret being enrolled on this session,
// creating one the first time. It lives on the session row, never in the
// form, so a user cannot be made to enrol a secret someone else chose.
func (s *Server) pendingSecret(ctx context.Context, a *authed) (string, error) {
	if a.sess.PendingTOTP != "" {
		return a.sess.PendingTOTP, nil
	}
	secret, _, err := auth.NewTOTP(totpIssuer, a.user.Username)
	if err != nil {
		return "", err
	}
	if err := s.store.SetPendingTOTP(ctx, a.sess.ID, secret); err != nil {
		return "", err
	}
	a.sess.PendingTOTP = secret
	return secret, nil
}

// enrolResult is a completed enrolment: the new session and the recovery
// codes, shown once.
type enrolResult struct {
	session loginResult
	codes   []string
}

// confirmEnrolment checks code against the pending secret, stores the secret
// with fresh recovery codes, and rotates the user's sessions (every old one
// ends: the account's privilege changed).
func (s *Server) confirmEnrolment(ctx context.Context, r *http.Request, a *authed, code string) (enrolResult, error) {
	if a.user.MFAEnrolled() {
		return enrolResult{}, errMFAAlreadyOn
	}
	secret := a.sess.PendingTOTP
	if secret == "" {
		return enrolResult{}, errNoPending
	}
	step, ok := auth.MatchTOTP(secret, code, s.now())
	if !ok {
		s.audit(ctx, a.user.Username, "mfa.enrol_failed", "user/"+a.user.Username, "reason=bad-code ip="+s.clientIP(r).String())
		return enrolResult{}, errMFABadCode
	}
	codes, hashes, err := auth.NewRecoveryCodes()
	if err != nil {
		return enrolResult{}, err
	}
	if err := s.store.EnrolTOTP(ctx, a.user.ID, secret, step, hashes); err != nil {
		return enrolResult{}, err
	}
	if _, err := s.store.DeleteUserSessions(ctx, a.user.ID); err != nil {
		return enrolResult{}, err
	}
	u := a.user
	u.TOTPSecret = secret
	sess, err := s.newSession(ctx, u)
	if err != nil {
		return enrolResult{}, err
	}
	if err := s.store.Audit(ctx, u.Username, "mfa.enrolled", "user/"+u.Username,
		fmt.Sprintf("recovery-codes=%d sessions-rotated ip=%s", len(codes), s.clientIP(r))); err != nil {
		return enrolResult{}, err
	}
	return enrolResult{session: sess, codes: codes}, nil
}

// regenerateCodes replaces the user's recovery codes after checking a
// current TOTP code (which is then used up like a login's).
func (s *Server) regenerateCodes(ctx context.Context, r *http.Request, a *authed, code string) ([]string, error) {
	if !a.user.MFAEnrolled() {
		return nil, errMFANotOn
	}
	step, ok := auth.MatchTOTP(a.user.TOTPSecret, code, s.now())
	if ok {
		var err error
		if ok, err = s.store.UseTOTPStep(ctx, a.user.ID, step); err != nil {
			return nil, err
		}
	}
	if !ok {
		return nil, errMFABadCode
	}
	codes, hashes, err := auth.NewRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := s.store.ReplaceRecoveryCodes(ctx, a.user.ID, hashes); err != nil {
		return nil, err
	}
	if err := s.store.Audit(ctx, a.user.Username, "mfa.recovery_codes_regenerated", "user/"+a.user.Username,
		fmt.Sprintf("recovery-codes=%d ip=%s", len(codes), s.clientIP(r))); err != nil {
		return nil, err
	}
	return codes, nil
}

// logoutEverywhere ends every session of target, audited as actor's action.
func (s *Server) logoutEverywhere(ctx context.Context, actor string, target storage.User, why string) (int64, error) {
	n, err := s.store.DeleteUserSessions(ctx, target.ID)
	if err != nil {
		return 0, err
	}
	if err := s.store.Audit(ctx, actor, "sessions.ended", "user/"+target.Username,
		fmt.Sprintf("sessions=%d reason=%s", n, why)); err != nil {
		return n, err
	}
	return n, nil
}

// audit writes an audit event whose loss must not fail the request (refused
// attempts); the failure is logged.
func (s *Server) audit(ctx context.Context, actor, action, object, detail string) {
	if err := s.store.Audit(ctx, actor, action, object, detail); err != nil {
		s.log.ErrorContext(ctx, "audit", "action", action, "err", err)
	}
}

// userFacing reports whether err is a refusal whose text the user may see.
func userFacing(err error) bool {
	return errors.Is(err, errMFAAlreadyOn) || errors.Is(err, errMFANotOn) ||
		errors.Is(err, errMFABadCode) || errors.Is(err, errNoPending)
}

// --- UI ---

// mfaPage is the enrolment page.
type mfaPage struct {
	Required bool
	Enrolled bool
	Secret   string // shown as text for apps that cannot scan
	Codes    []string
	Left     int
}

func (s *Server) handleAccountPage(w http.ResponseWriter, r *http.Request, a *authed) {
	d, err := s.accountData(r.Context(), a)
	if err != nil {
		s.pageError(w, r, a, "account", err)
		return
	}
	p := s.pageFor(a, "account", "My account", d)
	if r.URL.Query().Get("done") == "codes" {
		p.Flash = "New recovery codes were made."
	}
	s.render(w, r, http.StatusOK, "account", p)
}

func (s *Server) handleMFAPage(w http.ResponseWriter, r *http.Request, a *authed) {
	s.renderMFA(w, r, a, http.StatusOK, "")
}

func (s *Server) renderMFA(w http.ResponseWriter, r *http.Request, a *authed, status int, msg string) {
	d := mfaPage{Required: a.user.MFARequired(), Enrolled: a.user.MFAEnrolled()}
	if !d.Enrolled {
		secret, err := s.pendingSecret(r.Context(), a)
		if err != nil {
			s.pageError(w, r, a, "mfa pending secret", err)
			return
		}
		d.Secret = secret
	}
	p := s.pageFor(a, "account", "Two-step login", d)
	p.Error = msg
	s.render(w, r, status, "mfa", p)
}

// handleMFAQR serves the pending secret's QR code as a PNG from our own
// origin (the CSP allows no data: images).
func (s *Server) handleMFAQR(w http.ResponseWriter, r *http.Request, a *authed) {
	if a.user.MFAEnrolled() || a.sess.PendingTOTP == "" {
		s.fail(w, r, a, surfaceOf(r), http.StatusNotFound, "no set-up in progress")
		return
	}
	png, err := auth.TOTPQRCode(auth.TOTPURL(totpIssuer, a.user.Username, a.sess.PendingTOTP), 240)
	if err != nil {
		s.fail(w, r, a, surfaceOf(r), http.StatusInternalServerError, "internal error")
		s.log.ErrorContext(r.Context(), "mfa qr code", "err", err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(png)
}

func (s *Server) handleMFAForm(w http.ResponseWriter, r *http.Request, a *authed) {
	res, err := s.confirmEnrolment(r.Context(), r, a, r.PostFormValue("code"))
	if userFacing(err) {
		s.renderMFA(w, r, a, http.StatusUnprocessableEntity, capitalize(err.Error())+".")
		return
	}
	if err != nil {
		s.pageError(w, r, a, "mfa enrol", err)
		return
	}
	s.setSessionCookie(w, res.session.token)
	na := &authed{user: res.session.user, sess: storage.Session{CSRFToken: res.session.csrf}}
	p := s.pageFor(na, "account", "Two-step login is on", mfaPage{Enrolled: true, Codes: res.codes})
	p.Flash = "Two-step login is now on. From now on you log in with your password and a code from your app."
	s.render(w, r, http.StatusOK, "mfa_codes", p)
}

func (s *Server) handleRecoveryCodesForm(w http.ResponseWriter, r *http.Request, a *authed) {
	codes, err := s.regenerateCodes(r.Context(), r, a, r.PostFormValue("code"))
	if userFacing(err) {
		d, derr := s.accountData(r.Context(), a)
		if derr != nil {
			s.pageError(w, r, a, "account", derr)
			return
		}
		p := s.pageFor(a, "account", "My account", d)
		p.Error = capitalize(err.Error()) + "."
		s.render(w, r, http.StatusUnprocessableEntity, "account", p)
		return
	}
	if err != nil {
		s.pageError(w, r, a, "regenerate recovery codes", err)
		return
	}
	p := s.pageFor(a, "account", "New recovery codes", mfaPage{Enrolled: true, Codes: codes})
	p.Flash = "Your old recovery codes no longer work."
	s.render(w, r, http.StatusOK, "mfa_codes", p)
}

func (s *Server) handleLogoutAllForm(w http.ResponseWriter, r *http.Request, a *authed) {
	if _, err := s.logoutEverywhere(r.Context(), a.user.Username, a.user, "self ip="+s.clientIP(r).String()); err != nil {
		s.pageError(w, r, a, "log out everywhere", err)
		return
	}
	s.clearCookie(w, s.sessionCookie)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// capitalize upper-cases the first letter of an ASCII message.
func capitalize(msg string) string {
	if msg == "" || msg[0] < 'a' || msg[0] > 'z' {
		return msg
	}
	return string(msg[0]-'a'+'A') + msg[1:]
}

// --- API ---

// mfaSetupJSON answers GET /api/account/mfa.
type mfaSetupJSON struct {
	Enrolled   bool   `json:"mfa_enrolled"`
	Required   bool   `json:"mfa_required"`
	Secret     string `json:"secret,omitempty"`
	OTPAuthURL string `json:"otpauth_url,omitempty"`
	QRCodeURL  string `json:"qr_code_url,omitempty"`
}

// codeRequest is the body of the MFA POST endpoints.
type codeRequest struct {
	Code string `json:"code"`
}

// mfaEnrolledJSON answers POST /api/account/mfa and the recovery-code
// regeneration; the codes are shown this once.
type mfaEnrolledJSON struct {
	RecoveryCodes []string `json:"recovery_codes"`
	CSRFToken     string   `json:"csrf_token,omitempty"`
}

func (s *Server) handleAPIAccount(w http.ResponseWriter, r *http.Request, a *authed) {
	if !checkQuery(w, r) {
		return
	}
	d, err := s.accountData(r.Context(), a)
	if err != nil {
		s.internalError(w, r, "account", err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) handleAPIMFASetup(w http.ResponseWriter, r *http.Request, a *authed) {
	if !checkQuery(w, r) {
		return
	}
	out := mfaSetupJSON{Enrolled: a.user.MFAEnrolled(), Required: a.user.MFARequired()}
	if !out.Enrolled {
		secret, err := s.pendingSecret(r.Context(), a)
		if err != nil {
			s.internalError(w, r, "mfa pending secret", err)
			return
		}
		out.Secret = secret
		out.OTPAuthURL = auth.TOTPURL(totpIssuer, a.user.Username, secret)
		out.QRCodeURL = "/api/account/mfa/qr.png"
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAPIMFAEnrol(w http.ResponseWriter, r *http.Request, a *authed) {
	var req codeRequest
	if err := decodeJSON(r, &req); err != nil {
		writeDecodeError(w, err)
		return
	}
	res, err := s.confirmEnrolment(r.Context(), r, a, req.Code)
	if userFacing(err) {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, "mfa enrol", err)
		return
	}
	s.setSessionCookie(w, res.session.token)
	writeJSON(w, http.StatusOK, mfaEnrolledJSON{RecoveryCodes: res.codes, CSRFToken: res.session.csrf})
}

func (s *Server) handleAPIRecoveryCodes(w http.ResponseWriter, r *http.Request, a *authed) {
	var req codeRequest
	if err := decodeJSON(r, &req); err != nil {
		writeDecodeError(w, err)
		return
	}
	codes, err := s.regenerateCodes(r.Context(), r, a, req.Code)
	if userFacing(err) {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, "regenerate recovery codes", err)
		return
	}
	writeJSON(w, http.StatusOK, mfaEnrolledJSON{RecoveryCodes: codes})
}

func (s *Server) handleAPILogoutAll(w http.ResponseWriter, r *http.Request, a *authed) {
	n, err := s.logoutEverywhere(r.Context(), a.user.Username, a.user, "self ip="+s.clientIP(r).String())
	if err != nil {
		s.internalError(w, r, "log out everywhere", err)
		return
	}
	s.clearCookie(w, s.sessionCookie)
	writeJSON(w, http.StatusOK, map[string]int64{"sessions_ended": n})
}
