// Package tme reads and writes Telegram's t.me links: how analysts name
// channels, how messages are cited in evidence and notices, and what a
// takedown about a channel is addressed as.
package tme

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// ChannelRef names a channel as an analyst writes it: by username, or by
// an invite link for a private channel.
type ChannelRef struct {
	Username string // without "@"
	Invite   string // the invite hash of t.me/+HASH or t.me/joinchat/HASH
}

// String is the canonical link.
func (r ChannelRef) String() string {
	if r.Invite != "" {
		return "https://t.me/+" + r.Invite
	}
	return "https://t.me/" + r.Username
}

// usernameRE is Telegram's rule for public usernames.
var usernameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{3,31}$`)

var inviteRE = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// ParseChannel reads @username, username, t.me/username (with or without
// https://, also t.me/s/username), t.me/+HASH, t.me/joinchat/HASH and
// tg://resolve?domain=username.
func ParseChannel(s string) (ChannelRef, error) {
	in := strings.TrimSpace(s)
	bad := func(why string) (ChannelRef, error) {
		return ChannelRef{}, fmt.Errorf("telegram channel %q: %s (want @username, https://t.me/username or an invite link https://t.me/+HASH)", s, why)
	}
	if strings.HasPrefix(in, "tg://") {
		u, err := url.Parse(in)
		if err != nil || u.Host != "resolve" || u.Query().Get("domain") == "" {
			return bad("not a tg://resolve?domain= link")
		}
		in = "@" + u.Query().Get("domain")
	}
	if name, ok := strings.CutPrefix(in, "@"); ok {
		if !usernameRE.MatchString(name) {
			return bad("not a valid username")
		}
		return ChannelRef{Username: name}, nil
	}
	if !strings.Contains(in, "/") && !strings.Contains(in, ".") {
		if !usernameRE.MatchString(in) {
			return bad("not a valid username")
		}
		return ChannelRef{Username: in}, nil
	}
	if !strings.Contains(in, "://") {
		in = "https://" + in
	}
	u, err := url.Parse(in)
	if err != nil {
		return bad("not a link")
	}
	host := strings.ToLower(strings.TrimPrefix(u.Hostname(), "www."))
	if host != "t.me" && host != "telegram.me" {
		return bad("not a t.me link")
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch {
	case len(parts) >= 1 && strings.HasPrefix(parts[0], "+"):
		if h := parts[0][1:]; inviteRE.MatchString(h) {
			return ChannelRef{Invite: h}, nil
		}
		return bad("not a valid invite link")
	case len(parts) >= 2 && parts[0] == "joinchat":
		if inviteRE.MatchString(parts[1]) {
			return ChannelRef{Invite: parts[1]}, nil
		}
		return bad("not a valid invite link")
	case len(parts) >= 2 && parts[0] == "s":
		parts = parts[1:]
	case len(parts) >= 1 && parts[0] == "c":
		return bad("a t.me/c/ link names a message of a private channel; give its invite link")
	}
	if len(parts) == 0 || !usernameRE.MatchString(parts[0]) {
		return bad("no valid username in the link")
	}
	return ChannelRef{Username: parts[0]}, nil
}

// MessageLink is a message's public link: t.me/<username>/<id>, or
// t.me/c/<channel id>/<id> for a channel without a username.
func MessageLink(username string, channelID int64, msgID int) string {
	if username != "" {
		return "https://t.me/" + username + "/" + strconv.Itoa(msgID)
	}
	return "https://t.me/c/" + strconv.FormatInt(channelID, 10) + "/" + strconv.Itoa(msgID)
}

// Target is what a takedown about the channel is addressed as: the
// channel's t.me address (the case's target, one case per channel).
func Target(username string, channelID int64) string {
	if username != "" {
		return "t.me/" + username
	}
	return "t.me/c/" + strconv.FormatInt(channelID, 10)
}

// MessageID returns the message id of a message link (or of a file
// capture's link, which adds a #fragment), and false for anything else.
func MessageID(link string) (int, bool) {
	u, err := url.Parse(link)
	if err != nil || (u.Host != "t.me" && u.Host != "telegram.me") {
		return 0, false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 {
		return 0, false
	}
	id, err := strconv.Atoi(parts[len(parts)-1])
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}
