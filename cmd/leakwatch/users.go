package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/leakwatch/leakwatch/internal/auth"
	"github.com/leakwatch/leakwatch/storage"
)

func runUsers(ctx context.Context, e *env, args []string) error {
	const use = "usage: leakwatch users add NAME --role analyst|legal|admin [--password-stdin] | users list | users unlock NAME | users mfa-reset NAME"
	if len(args) == 0 {
		return errors.New(use)
	}
	switch args[0] {
	case "add":
		fset := flag.NewFlagSet("users add", flag.ContinueOnError)
		role := fset.String("role", string(storage.RoleAnalyst), "analyst, legal or admin")
		fromStdin := fset.Bool("password-stdin", false, "read the password from stdin (else one is generated and printed)")
		pos, err := e.parseFlags(fset, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return errors.New(use)
		}
		pw := ""
		if *fromStdin {
			line, err := bufio.NewReader(e.stdin).ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("users add: read password: %w", err)
			}
			pw = strings.TrimRight(line, "\r\n")
		} else {
			pw = generatePassword()
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		u, err := createUser(ctx, store, pos[0], storage.Role(*role), pw)
		if err != nil {
			return fmt.Errorf("users add: %w", err)
		}
		if *fromStdin {
			fmt.Fprintf(e.stdout, "added user %s (%s)\n", u.Username, u.Role)
		} else {
			fmt.Fprintf(e.stdout, "added user %s (%s) with password %s\n", u.Username, u.Role, pw)
		}
		return nil
	case "list":
		if _, err := e.parseFlags(flag.NewFlagSet("users list", flag.ContinueOnError), args[1:]); err != nil {
			return err
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		us, err := store.ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSERNAME\tROLE\tMFA\tDISABLED\tFAILED LOGINS\tDELAYED UNTIL\tLAST LOGIN")
		for _, u := range us {
			st, err := throttleState(ctx, store, u.Username, time.Now())
			if err != nil {
				return err
			}
			mfa := "off"
			if u.MFAEnrolled() {
				mfa = "on"
			} else if u.MFARequired() {
				mfa = "off (required)"
			}
			delayed, last := "-", "-"
			if !st.until.IsZero() {
				delayed = st.until.UTC().Format(time.RFC3339)
			}
			if u.LastLoginAt != nil {
				last = u.LastLoginAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%v\t%d\t%s\t%s\n", u.ID, u.Username, u.Role, mfa, u.Disabled,
				st.failures, delayed, last)
		}
		return tw.Flush()
	case "unlock":
		// An admin's way back in for someone slowed down by failed logins
		// (their own, or an outsider's guesses): clears every delay.
		name, store, err := userCommandArgs(ctx, e, "users unlock", args[1:], use)
		if err != nil {
			return err
		}
		u, err := store.UserByUsername(ctx, name)
		if err != nil {
			return fmt.Errorf("users unlock: %w", err)
		}
		detail, err := unlockUser(ctx, store, cliActor(), u)
		if err != nil {
			return fmt.Errorf("users unlock: %w", err)
		}
		if detail == "" {
			fmt.Fprintf(e.stdout, "%s is not locked and has no failed logins\n", u.Username)
			return nil
		}
		fmt.Fprintf(e.stdout, "unlocked %s\n", detail)
		return nil
	case "mfa-reset":
		// A lost phone: the user enrols again at their next login (legal
		// and admin users must before doing anything else).
		name, store, err := userCommandArgs(ctx, e, "users mfa-reset", args[1:], use)
		if err != nil {
			return err
		}
		u, err := store.UserByUsername(ctx, name)
		if err != nil {
			return fmt.Errorf("users mfa-reset: %w", err)
		}
		if err := resetMFA(ctx, store, cliActor(), u); err != nil {
			return fmt.Errorf("users mfa-reset: %w", err)
		}
		fmt.Fprintf(e.stdout, "two-step login of %s reset; they enrol again at their next login, all their sessions ended\n", u.Username)
		return nil
	}
	return errors.New(use)
}

func createUser(ctx context.Context, store *storage.Store, name string, role storage.Role, pw string) (storage.User, error) {
	if !role.Valid() {
		return storage.User{}, fmt.Errorf("role %q: want analyst, legal or admin", role)
	}
	if err := auth.CheckPasswordPolicy(pw); err != nil {
		return storage.User{}, err
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return storage.User{}, err
	}
	u := storage.User{Username: name, PasswordHash: hash, Role: role}
	if err := store.CreateUser(ctx, &u); err != nil {
		return storage.User{}, err
	}
	if err := store.Audit(ctx, cliActor(), "user.added", fmt.Sprintf("user:%d", u.ID), u.Username+" as "+string(u.Role)); err != nil {
		return storage.User{}, err
	}
	return u, nil
}

// generatePassword makes a 20-character password from an unambiguous alphabet.
func generatePassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// cliActor names the operating-system user in the audit log for CLI actions.
func cliActor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}

func resetPassword(ctx context.Context, store *storage.Store, id uint64, pw string) error {
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	return store.UpdatePassword(ctx, id, hash)
}

// userCommandArgs parses a "users VERB NAME" command and opens the store.
func userCommandArgs(ctx context.Context, e *env, cmd string, args []string, use string) (string, *storage.Store, error) {
	pos, err := e.parseFlags(flag.NewFlagSet(cmd, flag.ContinueOnError), args)
	if err != nil {
		return "", nil, err
	}
	if len(pos) != 1 {
		return "", nil, errors.New(use)
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return "", nil, err
	}
	return pos[0], store, nil
}

// userThrottle sums up a user's failed-login state for the list.
type userThrottle struct {
	failures int64     // the most from one network, or from all
	until    time.Time // latest delay still running; zero if none
}

func throttleState(ctx context.Context, store *storage.Store, username string, now time.Time) (userThrottle, error) {
	rows, err := store.AccountThrottles(ctx, storage.ThrottleAccount(username))
	if err != nil {
		return userThrottle{}, err
	}
	var st userThrottle
	for _, t := range rows {
		st.failures = max(st.failures, t.Failures)
		if t.NextAt.After(now) && t.NextAt.After(st.until) {
			st.until = t.NextAt
		}
	}
	return st, nil
}

// unlockUser clears every failed-login delay of u, audited; "" means there
// was nothing to clear.
func unlockUser(ctx context.Context, store *storage.Store, actor string, u storage.User) (string, error) {
	n, err := store.ClearLoginThrottles(ctx, storage.ThrottleAccount(u.Username))
	if err != nil || n == 0 {
		return "", err
	}
	detail := fmt.Sprintf("%s: failed-login state of %d networks cleared", u.Username, n)
	if err := store.Audit(ctx, actor, "user.unlocked", fmt.Sprintf("user:%d", u.ID), detail); err != nil {
		return "", err
	}
	return detail, nil
}

// resetMFA removes u's TOTP secret and recovery codes and ends their
// sessions, audited.
func resetMFA(ctx context.Context, store *storage.Store, actor string, u storage.User) error {
	if err := store.ResetMFA(ctx, u.ID); err != nil {
		return err
	}
	n, err := store.DeleteUserSessions(ctx, u.ID)
	if err != nil {
		return err
	}
	return store.Audit(ctx, actor, "user.mfa_reset", fmt.Sprintf("user:%d", u.ID),
		fmt.Sprintf("%s: two-step login removed, %d sessions ended", u.Username, n))
}
