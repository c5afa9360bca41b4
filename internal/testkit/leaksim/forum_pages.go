package leaksim

import "html/template"

// chromeView is the boilerplate every forum page repeats.
type chromeView struct {
	Site, Banner, Footer string
	Nav                  []Link
}

type pagerItem struct {
	Num     int
	Href    string
	Current bool
	Gap     bool // an ellipsis between page numbers
}

type pagerView struct {
	Page, Pages int
	Prev, Next  string
	Items       []pagerItem
}

type boardView struct {
	Name, Path     string
	Threads, Posts int
}

type forumListData struct {
	Chrome  chromeView
	Crumbs  []Link
	Title   string
	Boards  []boardView  // board index
	Threads []threadView // thread list
	Pager   *pagerView
}

type postView struct {
	Number    int
	Author    string
	Paras     [][]string
	TableHead []string
	TableRows [][]string
	Files     []fileView
	Signature string
}

type forumThreadData struct {
	Chrome      chromeView
	Crumbs      []Link
	Title       string
	Page, Pages int
	Pager       *pagerView
	Posts       []postView
	DumpPath    string
	LoopLinks   []string
}

type forumDumpData struct {
	Chrome                   chromeView
	Crumbs                   []Link
	Title, Author, Signature string
	dumpLinks
	LoopLinks []string
}

type forumRulesData struct {
	Chrome chromeView
	Crumbs []Link
	Title  string
}

// Forum templates, added to the same set as the classic pages. Chrome comes
// first (header with banner, navigation bar) and last (footer), so it
// surrounds <main>.
var _ = template.Must(pages.Parse(`
{{define "f-head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} - {{.Chrome.Site}}</title>
<style>body{background:#111;color:#ddd;font-family:sans-serif;max-width:64em;margin:1em auto}a{color:#e33}.signature{color:#888;border-top:1px dashed #444;font-size:small}table.proof td,table.proof th{border:1px solid #555;padding:2px 6px}</style>
</head><body>
<header class="site-header"><div class="site-title"><a href="/">{{.Chrome.Site}}</a></div>{{if .Chrome.Banner}}
<div class="banner">{{.Chrome.Banner}}</div>{{end}}</header>
{{if .Chrome.Nav}}<nav class="navbar">{{range .Chrome.Nav}}<a class="nav" href="{{.Href}}">{{.Text}}</a> {{end}}</nav>
{{end}}<main>
{{if .Crumbs}}<p class="breadcrumb">{{range .Crumbs}}<a href="{{.Href}}">{{.Text}}</a> &rsaquo; {{end}}{{.Title}}</p>
{{end}}<h1>{{.Title}}</h1>
{{end}}

{{define "f-foot"}}</main>
<footer class="site-footer"><hr>{{if .Footer}}<p class="footer-text">{{.Footer}}</p>{{end}}<small>Simulated leak site for the leakwatch demo and tests. All content is synthetic.</small></footer></body></html>{{end}}

{{define "f-pager"}}{{if .}}<nav class="pagination">{{if .Prev}}<a class="prev" rel="prev" href="{{.Prev}}">&laquo; Prev</a> {{end}}{{range .Items}}{{if .Gap}}<span class="gap">&hellip;</span> {{else if .Current}}<strong class="page current">{{.Num}}</strong> {{else}}<a class="page" href="{{.Href}}">{{.Num}}</a> {{end}}{{end}}{{if .Next}}<a class="next" rel="next" href="{{.Next}}">Next &raquo;</a>{{end}}</nav>
{{end}}{{end}}

{{define "f-files"}}{{if .}}<ul class="attachments">
{{range .}}<li><a class="attachment" href="{{.Path}}">{{.Name}}</a> ({{.Size}}){{if .Mirror}} &middot; <a class="mirror" href="{{.Mirror}}">mirror</a>{{end}}</li>
{{end}}</ul>
{{end}}{{end}}

{{define "forum-list"}}{{template "f-head" .}}{{if .Boards}}<table class="boards">
<tr><th>Board</th><th>Threads</th><th>Posts</th></tr>
{{range .Boards}}<tr><td><a class="board" href="{{.Path}}">{{.Name}}</a></td><td>{{.Threads}}</td><td>{{.Posts}}</td></tr>
{{end}}</table>
{{else}}{{template "f-pager" .Pager}}<table class="threads">
{{range .Threads}}<tr><td><a class="thread" href="{{.Path}}">{{.Title}}</a></td><td>{{if .Count}}{{.Count}} files{{end}}</td></tr>
{{end}}</table>
{{template "f-pager" .Pager}}{{end}}{{template "f-foot" .Chrome}}{{end}}

{{define "forum-thread"}}{{template "f-head" .}}{{template "f-pager" .Pager}}{{range .Posts}}<article class="post" id="post-{{.Number}}">
<div class="post-meta"><span class="author">{{.Author}}</span> <span class="post-number">#{{.Number}}</span></div>
<div class="post-body">{{range .Paras}}<p>{{range $i, $l := .}}{{if $i}}<br>
{{end}}{{$l}}{{end}}</p>
{{end}}{{if .TableRows}}<table class="proof">
<tr>{{range .TableHead}}<th>{{.}}</th>{{end}}</tr>
{{range .TableRows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{else if .TableHead}}<table class="proof"><tr>{{range .TableHead}}<th>{{.}}</th>{{end}}</tr></table>
{{end}}</div>
{{template "f-files" .Files}}{{if .Signature}}<div class="signature">{{.Signature}}</div>
{{end}}</article>
{{end}}{{template "f-pager" .Pager}}<p>Full dump and mirrors: <a href="{{.DumpPath}}">read the announcement</a>.</p>
{{range .LoopLinks}}<p class="sort">Sort replies: <a href="{{.}}">toggle order</a></p>
{{end}}{{template "f-foot" .Chrome}}{{end}}

{{define "forum-dump"}}{{template "f-head" .}}<article class="post" id="post-1">
<div class="post-meta"><span class="author">{{.Author}}</span> <span class="post-number">#1</span></div>
<div class="post-body"><p>Deadline passed. Everything goes public. Download while it lasts.</p></div>
<ul class="attachments">
{{if .HugePath}}<li><a class="attachment" href="{{.HugePath}}">full_dump.zip</a> ({{.HugeSize}})</li>{{end}}
{{if .Missing}}<li><a class="attachment" href="{{.Missing}}">full_dump_part2.7z</a> (re-upload pending)</li>{{end}}
{{if .Offsite}}<li><a class="offsite" href="{{.Offsite}}">external mirror</a></li>{{end}}
</ul>
{{if .Signature}}<div class="signature">{{.Signature}}</div>
{{end}}</article>
{{range .LoopLinks}}<p class="sort">Sort replies: <a href="{{.}}">toggle order</a></p>
{{end}}{{template "f-foot" .Chrome}}{{end}}

{{define "forum-rules"}}{{template "f-head" .}}<ol class="rules">
<li>Verified data only. Fakes get you banned.</li>
<li>Use escrow for every deal. Staff never ask for payment first.</li>
<li>No doxxing of members.</li>
<li>Bumping your own thread more than once a day is spam.</li>
</ol>
{{template "f-foot" .Chrome}}{{end}}
`))
