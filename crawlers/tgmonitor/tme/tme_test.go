package tme

import (
	"strings"
	"testing"
)

func TestParseChannel(t *testing.T) {
	good := []struct {
		in   string
		want ChannelRef
	}{
		{"@leak_dump", ChannelRef{Username: "leak_dump"}},
		{"leak_dump", ChannelRef{Username: "leak_dump"}},
		{"https://t.me/leak_dump", ChannelRef{Username: "leak_dump"}},
		{"t.me/leak_dump/", ChannelRef{Username: "leak_dump"}},
		{"https://t.me/leak_dump/42", ChannelRef{Username: "leak_dump"}},
		{"https://t.me/s/leak_dump", ChannelRef{Username: "leak_dump"}},
		{"http://telegram.me/leak_dump", ChannelRef{Username: "leak_dump"}},
		{"https://www.t.me/leak_dump", ChannelRef{Username: "leak_dump"}},
		{"tg://resolve?domain=leak_dump", ChannelRef{Username: "leak_dump"}},
		{"https://t.me/+AbCdEf12_-xy", ChannelRef{Invite: "AbCdEf12_-xy"}},
		{"https://t.me/joinchat/AbCdEf12xy", ChannelRef{Invite: "AbCdEf12xy"}},
	}
	for _, g := range good {
		got, err := ParseChannel(g.in)
		if err != nil || got != g.want {
			t.Errorf("ParseChannel(%q) = %+v, %v; want %+v", g.in, got, err, g.want)
		}
	}
	bad := map[string]string{
		"":                         "not a valid username",
		"@ab":                      "not a valid username",
		"@9starts_with_digit":      "not a valid username",
		"https://example.org/x":    "not a t.me link",
		"https://t.me/c/123/4":     "invite link",
		"https://t.me/+short":      "not a valid invite",
		"tg://msg?text=x":          "tg://resolve",
		"https://t.me/":            "no valid username",
		"https://t.me/bad-name-x!": "no valid username",
	}
	for in, want := range bad {
		if _, err := ParseChannel(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseChannel(%q) error %v, want one saying %q", in, err, want)
		}
	}
}

func TestLinksAndTargets(t *testing.T) {
	if got := MessageLink("leak_dump", 77, 5); got != "https://t.me/leak_dump/5" {
		t.Errorf("public link %q", got)
	}
	if got := MessageLink("", 1234567, 5); got != "https://t.me/c/1234567/5" {
		t.Errorf("private link %q", got)
	}
	if Target("leak_dump", 1) != "t.me/leak_dump" || Target("", 1234567) != "t.me/c/1234567" {
		t.Errorf("targets %q %q", Target("leak_dump", 1), Target("", 1234567))
	}
	if (ChannelRef{Invite: "AbCdEf12xy"}).String() != "https://t.me/+AbCdEf12xy" {
		t.Error("invite String")
	}
}

func TestMessageID(t *testing.T) {
	for in, want := range map[string]int{
		"https://t.me/leak_dump/42":                   42,
		"https://t.me/leak_dump/42#document-50000001": 42,
		"https://t.me/c/1234567/9":                    9,
		"https://t.me/leak_dump":                      0,
		"https://example.org/a/42":                    0,
		"https://t.me/leak_dump/x":                    0,
	} {
		got, ok := MessageID(in)
		if got != want || ok != (want > 0) {
			t.Errorf("MessageID(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
}
