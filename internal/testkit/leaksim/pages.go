package leaksim

import (
	"html/template"
)

type indexData struct {
	Title       string
	Threads     []threadView
	Page, Pages int
	Prev, Next  string
}

type fileView struct {
	Name, Path, Size string
	Mirror           string // /go/<id>, empty when redirects are disabled
}

type threadData struct {
	Site, Title, Post string
	Files             []fileView
	DumpPath          string
	LoopLinks         []string
}

type dumpData struct {
	Site, Title string
	dumpLinks
	LoopLinks []string
}

// dumpLinks are the announcement thread's hostile links; empty ones are
// switched off.
type dumpLinks struct {
	HugePath, HugeSize string
	Offsite, Missing   string
}

// ransomPost is the fictional extortion text of a data thread. It follows
// the public shape of the case in DESIGN.md §0 (counts, price, deadline) and
// contains no personal data: samples only ever appear as attachments.
func ransomPost(thread string) string {
	return "Thread: " + thread + "\n\n" +
		"We walked in through the front door with a valid password and took the whole " +
		"\"Health Documents\" module: clinical notes, lab results, vaccination records, " +
		"medical photographs, names, emails and phone numbers. 428,337 files, 108 GB.\n\n" +
		"The files below are a free sample so nobody can say we are bluffing. " +
		"Management has 48 hours to contact us. The price is US$60,000. " +
		"If we hear nothing by 15 January, the full dump is published here for everyone.\n\n" +
		"Journalists and patients: watch this thread."
}

// The templates are parsed once and never modified; html/template escapes
// every value, including thread titles taken from File.Thread.
var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.}}</title>
<style>body{background:#111;color:#ddd;font-family:monospace;max-width:60em;margin:2em auto}a{color:#e33}</style>
</head><body>{{end}}

{{define "foot"}}<footer><hr><small>Simulated leak site for the leakwatch demo and tests. All content is synthetic.</small></footer></body></html>{{end}}

{{define "index"}}{{template "head" .Title}}
<h1><a href="/">{{.Title}}</a></h1>
<p>New victims every week. Verified data only. Contact us before the timer runs out.</p>
<table class="threads">
{{range .Threads}}<tr><td><a class="thread" href="{{.Path}}">{{.Title}}</a></td><td>{{if .Count}}{{.Count}} files{{end}}</td></tr>
{{end}}</table>
<nav class="pagination">{{if .Prev}}<a rel="prev" href="{{.Prev}}">&laquo; prev</a> {{end}}page {{.Page}} of {{.Pages}}{{if .Next}} <a rel="next" href="{{.Next}}">next &raquo;</a>{{end}}</nav>
{{template "foot"}}{{end}}

{{define "thread"}}{{template "head" .Title}}
<p><a href="/">{{.Site}}</a> &rsaquo; {{.Title}}</p>
<h1>{{.Title}}</h1>
<article class="post"><pre>{{.Post}}</pre></article>
<h2>Attachments</h2>
<ul class="attachments">
{{range .Files}}<li><a class="attachment" href="{{.Path}}">{{.Name}}</a> ({{.Size}}){{if .Mirror}} &middot; <a class="mirror" href="{{.Mirror}}">mirror</a>{{end}}</li>
{{end}}</ul>
<p>Full dump and mirrors: <a href="{{.DumpPath}}">read the announcement</a>.</p>
{{range .LoopLinks}}<p class="sort">Sort replies: <a href="{{.}}">toggle order</a></p>{{end}}
{{template "foot"}}{{end}}

{{define "dump"}}{{template "head" .Title}}
<p><a href="/">{{.Site}}</a> &rsaquo; {{.Title}}</p>
<h1>{{.Title}}</h1>
<article class="post"><pre>Deadline passed. Everything goes public. Download while it lasts.</pre></article>
<ul class="attachments">
{{if .HugePath}}<li><a class="attachment" href="{{.HugePath}}">full_dump.zip</a> ({{.HugeSize}})</li>{{end}}
{{if .Missing}}<li><a class="attachment" href="{{.Missing}}">full_dump_part2.7z</a> (re-upload pending)</li>{{end}}
{{if .Offsite}}<li><a class="offsite" href="{{.Offsite}}">external mirror</a></li>{{end}}
</ul>
{{range .LoopLinks}}<p class="sort">Sort replies: <a href="{{.}}">toggle order</a></p>{{end}}
{{template "foot"}}{{end}}
`))
