package main

import "html/template"

// The pages open writes are read from file:// on an air-gapped laptop:
// no script, nothing from another origin, all style inline.

const pageStyle = `<style>
body{font:15px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:70em;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}dt{font-weight:600;margin-top:.6em}dd{margin-left:1em;white-space:pre-wrap}
.warn{background:#fff3cd;border:1px solid #e0c060;padding:.5em}.gps{color:#a00;font-weight:600}
.muted{color:#666}.k{color:#555;font-size:.9em}.withdrawn{color:#a00;font-weight:600}
.text{white-space:pre-wrap}.pager{margin:.8em 0}
svg text{font-family:system-ui,sans-serif;font-size:12px}
</style>`

// itemParts are the parts of an item's page: open writes it with the item
// alone (itemPage), the index rewrites it with the thread and the
// annotations (casePageTemplate, triage.go).
const itemParts = `{{define "head"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>{{.Kind}} of {{.Day}} — {{.Source}}</title>` + pageStyle + `</head>
<body>
<p><a href="../../index.html">All cases</a></p>
<h1>{{.Kind}} of {{.Day}}</h1>
<p class="muted">Source {{.Source}} · item {{.ID}}{{if .Lang}} · language {{.Lang}}{{end}}</p>
{{with .Withdrawal}}<p class="withdrawn">The witness took their account back ({{.}}): do not use or quote this item.</p>{{end}}
{{if .GPSAny}}<p class="warn gps">An image of this item holds GPS location data: it may identify the witness. Use the working copies (.clean) for any sharing.</p>{{end}}
{{end}}{{define "answers"}}<h2>Answers</h2>
{{if .Answers}}<dl>{{range .Answers}}<dt>{{vis .Label}} <span class="k">({{vis .Key}})</span></dt><dd>{{vis .Text}}</dd>
{{end}}</dl>{{else}}<p class="muted">No answers.</p>{{end}}
<h2>Attachments</h2>
{{if .Files}}<table><tr><th>Original (evidence, untouched)</th><th>Size</th><th>Type</th><th>Working copy</th><th>Metadata</th></tr>
{{range .Files}}<tr><td>{{if .Href}}<a href="{{.Href}}">{{.Name}}</a>{{else}}{{.Name}}<br><span class="warn">{{.Active}}</span>{{end}}</td><td>{{kib .Size}}</td><td>{{.Type}}</td>
<td>{{if .Clean}}<a href="{{.Clean}}">{{base .Clean}}</a>{{end}}{{if .Text}}<a href="{{.Text}}" type="text/plain">{{base .Text}}</a> (as text){{end}}</td>
<td>{{.Note}}{{if .IsImage}}<br>GPS present: {{if .GPS}}<span class="gps">yes</span>{{else if .GPSUnknown}}not checked{{else}}no{{end}}{{end}}</td></tr>
{{end}}</table>{{else}}<p class="muted">No attachments.</p>{{end}}
{{end}}{{define "files"}}{{range .}}{{if .Href}}<a href="{{.Href}}">{{.Name}}</a>{{else}}{{.Name}} <span class="k">(not linked: could run script{{if .Text}}; <a href="{{.Text}}" type="text/plain">as text</a>{{end}})</span>{{end}}{{if .Clean}} (<a href="{{.Clean}}">working copy</a>){{end}}{{if .GPS}} <span class="gps">GPS</span>{{end}}<br>{{end}}{{end}}`

// pageFuncs are funcs and vis, which makes the control, bidi and
// separator characters of a witness's text visible (visible, triage.go).
var pageFuncs = func() template.FuncMap {
	m := template.FuncMap{"vis": visible}
	for k, f := range funcs {
		m[k] = f
	}
	return m
}()

// itemPage is the page open writes with the item alone. It is, byte for
// byte, the page the index writes for an item without annotations whose
// source has no other item (casePageTemplate), so the index rewrites only
// the pages that changed.
var itemPage = template.Must(template.New("item").Funcs(pageFuncs).Parse(itemParts + `{{template "head" .}}<h2>Case</h2>
<p>Status <b>new</b> · assigned to nobody</p>
{{template "answers" .}}<h2>Annotation history</h2>
<p class="muted">No annotations yet.</p>
</body></html>
`))

// casePageTemplate is an item's page as the index writes it: the state of
// its case, the item, its source's thread, and who did what.
var casePageTemplate = template.Must(template.New("case").Funcs(pageFuncs).Parse(itemParts + `{{template "head" .}}<h2>Case</h2>
<p>Status <b>{{.Mark.Status}}</b> · assigned to {{with .Mark.Assignee}}<b>{{.}}</b>{{else}}nobody{{end}}{{with .Mark.Tags}} · tags: {{range $i, $t := .}}{{if $i}}, {{end}}<span class="tag">{{$t}}</span>{{end}}{{end}}{{with .Links}} · linked to: {{range $i, $l := .}}{{if $i}}, {{end}}{{$l}}{{end}}{{end}}</p>
{{with .Notes}}<dl>{{range .}}<dt>Note by {{.Author}} on {{.Day}}</dt><dd>{{.Text}}</dd>
{{end}}</dl>
{{end}}{{template "answers" .}}{{if gt (len .Thread) 1}}<h2>The source's thread</h2>
<table><tr><th>Item</th><th>Message</th><th>Attachments</th></tr>
{{range .Thread}}<tr class="thread"><td>{{if .Self}}<b>{{.Day}} {{.Kind}}</b> (this page){{else}}<a href="{{.Href}}">{{.Day}} {{.Kind}}</a>{{end}}<br><span class="k">{{.ID8}}</span></td><td class="text">{{.Text}}</td><td>{{template "files" .Files}}</td></tr>
{{end}}</table>
{{end}}<h2>Annotation history</h2>
{{if .History}}<p class="muted">Every change to this item and to its source, in the order the merge applies them.</p>
<table><tr><th>Day</th><th>Who</th><th>On</th><th>Change</th><th>Value</th></tr>
{{range .History}}<tr class="op"><td>{{.Day}}</td><td>{{.Author}}</td><td>{{.On}}</td><td>{{.Kind}}</td><td class="text">{{.Value}}</td></tr>
{{end}}</table>{{else}}<p class="muted">No annotations yet.</p>{{end}}
</body></html>
`))

// listTemplate is one page of a listing (triage.go): a title, links to
// the listing's other pages, and its rows.
var listTemplate = template.Must(template.New("list").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>{{.Title}}{{if gt .Pages 1}}, page {{.Page}} of {{.Pages}}{{end}}</title>` + pageStyle + `</head>
<body>
<p><a href="{{.Base}}index.html">Overview</a></p>
<h1>{{.Title}}</h1>
{{with .About}}<p class="muted">{{.}}</p>{{end}}
{{template "pager" .}}
{{.Body}}
{{template "pager" .}}
</body></html>
{{define "pager"}}{{if gt .Pages 1}}<p class="pager">Page {{.Page}} of {{.Pages}}: {{with .Prev}}<a href="{{.}}">previous</a> {{end}}{{range .Links}}{{if .Current}}<b>{{.N}}</b> {{else}}<a href="{{.Href}}">{{.N}}</a> {{end}}{{end}}{{with .Next}}<a href="{{.}}">next</a>{{end}}</p>{{end}}{{end}}
`))

// overviewTemplate is index.html: counts, the groups of each facet, and
// the first page of every item by source.
var overviewTemplate = template.Must(template.New("overview").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>Cases</title>` + pageStyle + `</head>
<body>
<h1>Cases</h1>
<p>{{.Sources}} sources, {{.Submissions}} submissions, {{.Items}} items in all{{if .Withdrawn}}; {{.Withdrawn}} items of sources who took their account back{{end}}. The spreadsheet is <a href="testimonies.csv">testimonies.csv</a>; cases.db holds every answer for SQLite tools, and <code>testimony search</code> searches it.</p>
{{range .Facets}}<h2>{{.Title}}</h2>
<p class="muted">{{.About}}</p>
{{if .Groups}}<p>{{range .Groups}}<a href="{{.Href}}">{{.Key}}</a> ({{.Count}}) · {{end}}<a href="{{.AllHref}}">the whole list{{with .More}} ({{.}} more){{end}}</a></p>{{else}}<p class="muted">None.</p>{{end}}
{{end}}
<h2>Every item by source</h2>
{{if gt .SourcePages 1}}<p class="pager">Page 1 of {{.SourcePages}}: <a href="{{.Next}}">next</a></p>{{end}}
{{.Body}}
{{if gt .SourcePages 1}}<p class="pager">Page 1 of {{.SourcePages}}: <a href="{{.Next}}">next</a></p>{{end}}
</body></html>
`))

var caseRowTemplate = template.Must(template.New("caserow").Parse(`<tr><td><a href="{{.Href}}">{{.Day}} {{.Kind}}</a><br><span class="k">{{.ID8}}</span>{{with .Withdrawal}}<br><span class="withdrawn">{{.}}</span>{{end}}</td>` +
	`<td>{{if .SourceHref}}<a href="{{.SourceHref}}">{{.Source}}</a>{{else}}{{.Source}}{{end}}</td><td>{{.Status}}</td><td>{{.Assignee}}</td>` +
	`<td>{{range $i, $t := .Tags}}{{if $i}}, {{end}}{{$t}}{{end}}{{with .MoreTags}} (+{{.}}){{end}}</td>` +
	`<td class="text">{{.Snippet}}{{range .Key}}<br><span class="k">{{.Label}}:</span> {{.Text}}{{end}}</td></tr>
`))

var sourceHeadTemplate = template.Must(template.New("sourcehead").Parse(`<h2 id="{{.Name}}">Source {{.Name}}{{with .Withdrawal}} <span class="withdrawn">— {{.}}</span>{{end}}</h2>
{{with .Withdrawal}}<p class="withdrawn">The witness took their account back ({{.}}): do not use or quote these items; an investigator deletes them on the investigator site if asked.</p>
{{end}}<table><tr><th>Item</th><th>Case</th><th>Key answers</th><th>Attachments</th></tr>
`))

var sourceRowTemplate = template.Must(template.New("sourcerow").Funcs(pageFuncs).Parse(itemParts + `<tr><td><a href="{{.Href}}">{{.Day}} {{.Kind}}</a><br><span class="k">{{.ID}}</span>{{with .Withdrawal}}<br><span class="withdrawn">{{.}}</span>{{end}}</td>` +
	`<td>{{.Status}}{{with .Assignee}}<br>{{.}}{{end}}{{range .Tags}}<br><span class="k">{{.}}</span>{{end}}</td>` +
	`<td>{{range .Key}}<span class="k">{{.Label}}:</span> {{.Text}}<br>{{end}}</td>` +
	`<td>{{template "files" .Files}}{{with .MoreFiles}}{{.}} more on its page{{end}}</td></tr>
`))
