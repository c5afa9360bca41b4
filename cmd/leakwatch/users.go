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
	const use = "usage: leakwatch users add NAME --role analyst|legal|admin [--password-stdin] | users list | users unlock NAME"
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
		fmt.Fprintln(tw, "ID\tUSERNAME\tROLE\tMFA\tDISABLED\tLOCKED UNTIL")
		now := time.Now()
		for _, u := range us {
			locked := "-"
			if u.LockedUntil != nil && u.LockedUntil.After(now) {
				locked = u.LockedUntil.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%v\t%v\t%s\n", u.ID, u.Username, u.Role, u.TOTPSecret != "", u.Disabled, locked)
		}
		return tw.Flush()
	case "unlock":
		// An admin's way back in for someone locked out by failed logins
		// (their own, or an outsider's guesses).
		pos, err := e.parseFlags(flag.NewFlagSet("users unlock", flag.ContinueOnError), args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return errors.New(use)
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		u, err := store.UserByUsername(ctx, pos[0])
		if err != nil {
			return fmt.Errorf("users unlock: %w", err)
		}
		if u.LockedUntil == nil && u.FailedLogins == 0 {
			fmt.Fprintf(e.stdout, "%s is not locked and has no failed logins\n", u.Username)
			return nil
		}
		if err := store.ResetLoginFailures(ctx, u.ID); err != nil {
			return fmt.Errorf("users unlock: %w", err)
		}
		detail := fmt.Sprintf("%s: %d failed logins cleared", u.Username, u.FailedLogins)
		if u.LockedUntil != nil {
			detail += ", lock until " + u.LockedUntil.UTC().Format(time.RFC3339) + " lifted"
		}
		if err := store.Audit(ctx, cliActor(), "user.unlocked", fmt.Sprintf("user:%d", u.ID), detail); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "unlocked %s\n", detail)
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
