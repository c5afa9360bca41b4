package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/internal/auth"
	"github.com/leakwatch/leakwatch/storage"
)

// errAdmin is an admin action refused for a reason the admin can fix; its
// text is shown as is.
type errAdmin struct{ msg string }

func (e *errAdmin) Error() string { return e.msg }

func adminRefusal(format string, args ...any) error { return &errAdmin{fmt.Sprintf(format, args...)} }

// userRow is a user as the admin screens and GET /api/users show them.
type userRow struct {
	ID          uint64       `json:"id"`
	Username    string       `json:"username"`
	Role        storage.Role `json:"role"`
	MFAEnrolled bool         `json:"mfa_enrolled"`
	MFARequired bool         `json:"mfa_required"`
	Disabled    bool         `json:"disabled"`
	// FailedLogins is the most failures from one network or in all; 0
	// after a success or an unlock.
	FailedLogins int64      `json:"failed_logins"`
	DelayedUntil *time.Time `json:"delayed_until,omitempty"` // a login delay still running
	LastLoginAt  *time.Time `json:"last_login_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
}

func (s *Server) userRow(ctx context.Context, u storage.User) (userRow, error) {
	row := userRow{ID: u.ID, Username: u.Username, Role: u.Role, MFAEnrolled: u.MFAEnrolled(),
		MFARequired: u.MFARequired(), Disabled: u.Disabled, LastLoginAt: u.LastLoginAt, CreatedAt: u.CreatedAt}
	rows, err := s.store.AccountThrottles(ctx, storage.ThrottleAccount(u.Username))
	if err != nil {
		return row, err
	}
	now := s.now()
	for _, t := range rows {
		row.FailedLogins = max(row.FailedLogins, t.Failures)
		if t.NextAt.After(now) && (row.DelayedUntil == nil || t.NextAt.After(*row.DelayedUntil)) {
			until := t.NextAt
			row.DelayedUntil = &until
		}
	}
	return row, nil
}

func (s *Server) userRows(ctx context.Context) ([]userRow, error) {
	us, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]userRow, 0, len(us))
	for _, u := range us {
		row, err := s.userRow(ctx, u)
		if err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, nil
}

// newUserRequest is the body of POST /api/users and the create form.
type newUserRequest struct {
	Username string       `json:"username"`
	Role     storage.Role `json:"role"`
	// Password is optional: without one a temporary password is made and
	// returned once.
	Password string `json:"password"`
}

// userActionResult is what an admin action did; TemporaryPassword is shown
// this once.
type userActionResult struct {
	User              userRow `json:"user"`
	Done              string  `json:"done"`
	TemporaryPassword string  `json:"temporary_password,omitempty"`
	SessionsEnded     int64   `json:"sessions_ended"`
}

// createUser adds a user as admin a.
func (s *Server) createUser(ctx context.Context, a *authed, req newUserRequest) (userActionResult, error) {
	name := strings.TrimSpace(req.Username)
	if name == "" || len(name) > maxUsernameLen || strings.ContainsAny(name, " \t\r\n/") {
		return userActionResult{}, adminRefusal("user name must be 1 to %d characters without spaces or slashes", maxUsernameLen)
	}
	if !req.Role.Valid() {
		return userActionResult{}, adminRefusal("role must be analyst, legal or admin")
	}
	var res userActionResult
	pw := req.Password
	if pw == "" {
		var err error
		if pw, err = auth.NewTemporaryPassword(); err != nil {
			return res, err
		}
		res.TemporaryPassword = pw
	} else if err := auth.CheckPasswordPolicy(pw); err != nil {
		return res, adminRefusal("%s", err.Error())
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return res, err
	}
	u := storage.User{Username: name, PasswordHash: hash, Role: req.Role}
	if err := s.store.CreateUser(ctx, &u); errors.Is(err, storage.ErrDuplicate) {
		return res, adminRefusal("there is already a user called %s", name)
	} else if err != nil {
		return res, err
	}
	if err := s.store.Audit(ctx, a.user.Username, "user.created", "user/"+u.Username, "role="+string(u.Role)); err != nil {
		return res, err
	}
	res.Done = fmt.Sprintf("Created %s (%s).", u.Username, u.Role)
	res.User, err = s.userRow(ctx, u)
	return res, err
}

// userActions are the admin actions on one user, by URL name.
var userActions = map[string]bool{"role": true, "disable": true, "enable": true, "reset-password": true,
	"reset-mfa": true, "unlock": true, "logout-all": true}

// userAction runs one admin action on user id. Every action that changes
// what the user may do, or how they prove who they are, ends their sessions.
func (s *Server) userAction(ctx context.Context, a *authed, id uint64, action string, role storage.Role) (userActionResult, error) {
	var res userActionResult
	if !userActions[action] {
		return res, adminRefusal("unknown action %q", action)
	}
	u, err := s.store.UserByID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return res, errUserNotFound
	}
	if err != nil {
		return res, err
	}
	if u.ID == a.user.ID && (action == "disable" || action == "role" || action == "reset-mfa") {
		// The last admin must not lock everyone out by a slip.
		return res, adminRefusal("you cannot change your own role, disable yourself or reset your own two-step login; ask another admin")
	}
	endSessions := true
	detail := ""
	switch action {
	case "role":
		if !role.Valid() {
			return res, adminRefusal("role must be analyst, legal or admin")
		}
		detail = fmt.Sprintf("from=%s to=%s", u.Role, role)
		err = s.store.SetRole(ctx, u.ID, role)
		u.Role = role
		res.Done = fmt.Sprintf("%s is now %s.", u.Username, role)
	case "disable", "enable":
		err = s.store.SetDisabled(ctx, u.ID, action == "disable")
		u.Disabled = action == "disable"
		endSessions = u.Disabled
		res.Done = fmt.Sprintf("%s is %sd.", u.Username, action)
	case "reset-password":
		if res.TemporaryPassword, err = auth.NewTemporaryPassword(); err != nil {
			return res, err
		}
		var hash string
		if hash, err = auth.HashPassword(res.TemporaryPassword); err == nil {
			err = s.store.UpdatePassword(ctx, u.ID, hash)
		}
		res.Done = fmt.Sprintf("%s has a new temporary password. Give it to them in person or by phone; it is shown only now.", u.Username)
	case "reset-mfa":
		err = s.store.ResetMFA(ctx, u.ID)
		u.TOTPSecret = ""
		res.Done = fmt.Sprintf("Two-step login of %s was removed; they set it up again at their next login.", u.Username)
	case "unlock":
		var n int64
		n, err = s.store.ClearLoginThrottles(ctx, storage.ThrottleAccount(u.Username))
		detail = fmt.Sprintf("networks=%d", n)
		endSessions = false
		res.Done = fmt.Sprintf("%s can log in again from anywhere without waiting.", u.Username)
	case "logout-all":
		res.Done = fmt.Sprintf("All sessions of %s were ended.", u.Username)
	}
	if err != nil {
		return res, err
	}
	if endSessions {
		if res.SessionsEnded, err = s.store.DeleteUserSessions(ctx, u.ID); err != nil {
			return res, err
		}
		detail = strings.TrimSpace(detail + fmt.Sprintf(" sessions-ended=%d", res.SessionsEnded))
	}
	auditAction := map[string]string{"role": "user.role_changed", "disable": "user.disabled", "enable": "user.enabled",
		"reset-password": "user.password_reset", "reset-mfa": "user.mfa_reset", "unlock": "user.unlocked",
		"logout-all": "sessions.ended"}[action]
	if err := s.store.Audit(ctx, a.user.Username, auditAction, "user/"+u.Username, detail); err != nil {
		return res, err
	}
	res.User, err = s.userRow(ctx, u)
	return res, err
}

var errUserNotFound = errors.New("user not found")

// --- UI ---

// adminUsersPage is the users screen; adminUserPage one user's.
type adminUsersPage struct {
	Users []userRow
	Roles []storage.Role
	Form  newUserRequest
}

type adminUserPage struct {
	User              userRow
	Roles             []storage.Role
	Self              bool
	TemporaryPassword string
}

func (s *Server) handleAdminUsersPage(w http.ResponseWriter, r *http.Request, a *authed) {
	s.renderAdminUsers(w, r, a, http.StatusOK, "", newUserRequest{Role: storage.RoleAnalyst})
}

func (s *Server) renderAdminUsers(w http.ResponseWriter, r *http.Request, a *authed, status int, msg string, form newUserRequest) {
	rows, err := s.userRows(r.Context())
	if err != nil {
		s.pageError(w, r, a, "list users", err)
		return
	}
	form.Password = ""
	p := s.pageFor(a, "users", "Users", adminUsersPage{Users: rows, Roles: storage.Roles(), Form: form})
	p.Error = msg
	s.render(w, r, status, "admin_users", p)
}

func (s *Server) handleAdminCreateUserForm(w http.ResponseWriter, r *http.Request, a *authed) {
	req := newUserRequest{Username: r.PostFormValue("username"), Role: storage.Role(r.PostFormValue("role")),
		Password: r.PostFormValue("password")}
	res, err := s.createUser(r.Context(), a, req)
	var refusal *errAdmin
	if errors.As(err, &refusal) {
		s.renderAdminUsers(w, r, a, http.StatusUnprocessableEntity, capitalize(refusal.msg)+".", req)
		return
	}
	if err != nil {
		s.pageError(w, r, a, "create user", err)
		return
	}
	s.renderAdminUser(w, r, a, http.StatusOK, res)
}

func (s *Server) renderAdminUser(w http.ResponseWriter, r *http.Request, a *authed, status int, res userActionResult) {
	d := adminUserPage{User: res.User, Roles: storage.Roles(), Self: res.User.ID == a.user.ID,
		TemporaryPassword: res.TemporaryPassword}
	p := s.pageFor(a, "users", "User "+res.User.Username, d)
	p.Flash = res.Done
	s.render(w, r, status, "admin_user", p)
}

func (s *Server) handleAdminUserPage(w http.ResponseWriter, r *http.Request, a *authed) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		s.uiError(w, r, a, http.StatusNotFound, "No such user.")
		return
	}
	u, err := s.store.UserByID(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		s.uiError(w, r, a, http.StatusNotFound, "No such user.")
		return
	}
	if err != nil {
		s.pageError(w, r, a, "user", err)
		return
	}
	row, err := s.userRow(r.Context(), u)
	if err != nil {
		s.pageError(w, r, a, "user", err)
		return
	}
	s.renderAdminUser(w, r, a, http.StatusOK, userActionResult{User: row})
}

func (s *Server) handleAdminUserActionForm(w http.ResponseWriter, r *http.Request, a *authed) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		s.uiError(w, r, a, http.StatusNotFound, "No such user.")
		return
	}
	res, err := s.userAction(r.Context(), a, id, r.PathValue("action"), storage.Role(r.PostFormValue("role")))
	var refusal *errAdmin
	switch {
	case errors.Is(err, errUserNotFound):
		s.uiError(w, r, a, http.StatusNotFound, "No such user.")
		return
	case errors.As(err, &refusal):
		s.uiError(w, r, a, http.StatusUnprocessableEntity, capitalize(refusal.msg)+".")
		return
	case err != nil:
		s.pageError(w, r, a, "user action", err)
		return
	}
	if res.User.ID == a.user.ID && res.SessionsEnded > 0 {
		// The admin ended their own sessions (their own password reset or
		// log out everywhere): back to the login page.
		s.clearCookie(w, s.sessionCookie)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.renderAdminUser(w, r, a, http.StatusOK, res)
}

// --- API ---

func (s *Server) handleAPIUsers(w http.ResponseWriter, r *http.Request, _ *authed) {
	if !checkQuery(w, r) {
		return
	}
	rows, err := s.userRows(r.Context())
	if err != nil {
		s.internalError(w, r, "list users", err)
		return
	}
	writeJSON(w, http.StatusOK, rows)
}

func (s *Server) handleAPICreateUser(w http.ResponseWriter, r *http.Request, a *authed) {
	var req newUserRequest
	if err := decodeJSON(r, &req); err != nil {
		writeDecodeError(w, err)
		return
	}
	res, err := s.createUser(r.Context(), a, req)
	s.writeUserResult(w, r, res, err, http.StatusCreated)
}

// userActionRequest is the body of POST /api/users/{id}/{action}; only the
// role action reads it.
type userActionRequest struct {
	Role storage.Role `json:"role"`
}

func (s *Server) handleAPIUserAction(w http.ResponseWriter, r *http.Request, a *authed) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "user not found")
		return
	}
	var req userActionRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil {
			writeDecodeError(w, err)
			return
		}
	}
	res, err := s.userAction(r.Context(), a, id, r.PathValue("action"), req.Role)
	s.writeUserResult(w, r, res, err, http.StatusOK)
}

func (s *Server) writeUserResult(w http.ResponseWriter, r *http.Request, res userActionResult, err error, status int) {
	var refusal *errAdmin
	switch {
	case errors.Is(err, errUserNotFound):
		writeError(w, http.StatusNotFound, "user not found")
	case errors.As(err, &refusal):
		writeError(w, http.StatusUnprocessableEntity, refusal.msg)
	case err != nil:
		s.internalError(w, r, "user action", err)
	default:
		writeJSON(w, status, res)
	}
}
