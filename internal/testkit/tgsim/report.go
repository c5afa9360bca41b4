package tgsim

import (
	"strings"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// Report is a completed in-app report.
type Report struct {
	Channel int64
	MsgIDs  []int  // reported messages; empty: the channel itself
	Option  string // messages.report: option key (ReportOptions); account.reportPeer: reason TL name, e.g. "inputReportReasonCopyright"
	Comment string
	Method  string // "messages.report" or "account.reportPeer"
	UserID  int64  // reporting account
}

// ReportOption is one choice offered by the first messages.report step.
type ReportOption struct {
	Key  string // the option bytes to send back
	Text string
	// CommentOptional: the comment step may be answered with an empty
	// message.
	CommentOptional bool
}

// ReportOptions are the choices of messages.report's first step.
var ReportOptions = []ReportOption{
	{Key: "personal_details", Text: "Personal data", CommentOptional: true},
	{Key: "copyright", Text: "Copyright", CommentOptional: true},
	{Key: "other", Text: "Other", CommentOptional: false},
}

const commentSuffix = ":comment"

// Reports returns the completed in-app reports, oldest first.
func (s *Sim) Reports() []Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Report, len(s.reports))
	for i, r := range s.reports {
		r.MsgIDs = append([]int(nil), r.MsgIDs...)
		out[i] = r
	}
	return out
}

// messagesReport is the multi-step flow of layer 229: an empty option gets
// reportResultChooseOption; a chosen option without a message gets
// reportResultAddComment, whose option (key + ":comment") is sent back with
// the comment; any known option with a non-empty message, or the comment
// option of an optional comment with an empty one, completes the report
// (reportResultReported).
func (s *Sim) messagesReport(c *call) (bin.Encoder, error) {
	var r tg.MessagesReportRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	ch, err := s.inputPeerChannel(c, r.Peer)
	if err != nil {
		return nil, err
	}
	for _, id := range r.ID {
		if id < 1 || id > len(ch.msgs) || ch.msgs[id-1].deleted {
			return nil, tgerr.New(400, "MESSAGE_ID_INVALID")
		}
	}
	if len(r.Option) == 0 {
		out := &tg.ReportResultChooseOption{Title: "Report channel"}
		if len(r.ID) > 0 {
			out.Title = "Report message"
		}
		for _, o := range ReportOptions {
			out.Options = append(out.Options, tg.MessageReportOption{Text: o.Text, Option: []byte(o.Key)})
		}
		return out, nil
	}
	key, isComment := strings.CutSuffix(string(r.Option), commentSuffix)
	var opt *ReportOption
	for i := range ReportOptions {
		if ReportOptions[i].Key == key {
			opt = &ReportOptions[i]
		}
	}
	if opt == nil {
		return nil, tgerr.New(400, "OPTION_INVALID")
	}
	if r.Message == "" && !(isComment && opt.CommentOptional) {
		return &tg.ReportResultAddComment{Optional: opt.CommentOptional, Option: []byte(key + commentSuffix)}, nil
	}
	s.reports = append(s.reports, Report{
		Channel: ch.id,
		MsgIDs:  append([]int(nil), r.ID...),
		Option:  key,
		Comment: r.Message,
		Method:  "messages.report",
		UserID:  c.key.userID,
	})
	return &tg.ReportResultReported{}, nil
}

func (s *Sim) accountReportPeer(c *call) (bin.Encoder, error) {
	var r tg.AccountReportPeerRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	ch, err := s.inputPeerChannel(c, r.Peer)
	if err != nil {
		return nil, err
	}
	s.reports = append(s.reports, Report{
		Channel: ch.id,
		Option:  r.Reason.TypeName(),
		Comment: r.Message,
		Method:  "account.reportPeer",
		UserID:  c.key.userID,
	})
	return &tg.BoolTrue{}, nil
}
