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
svg text{font-family:system-ui,sans-serif;font-size:12px}
</style>`

var itemPage = template.Must(template.New("item").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>{{.Kind}} of {{.Day}} — {{.Source}}</title>` + pageStyle + `</head>
<body>
<p><a href="../../index.html">All cases</a></p>
<h1>{{.Kind}} of {{.Day}}</h1>
<p class="muted">Source {{.Source}} · item {{.ID}}{{if .Lang}} · language {{.Lang}}{{end}}</p>
{{if .GPSAny}}<p class="warn gps">An image of this item holds GPS location data: it may identify the witness. Use the working copies (.clean) for any sharing.</p>{{end}}
<h2>Answers</h2>
{{if .Answers}}<dl>{{range .Answers}}<dt>{{.Label}} <span class="k">({{.Key}})</span></dt><dd>{{.Text}}</dd>
{{end}}</dl>{{else}}<p class="muted">No answers.</p>{{end}}
<h2>Attachments</h2>
{{if .Files}}<table><tr><th>Original (evidence, untouched)</th><th>Size</th><th>Type</th><th>Working copy</th><th>Metadata</th></tr>
{{range .Files}}<tr><td>{{if .Href}}<a href="{{.Href}}">{{.Name}}</a>{{else}}{{.Name}}<br><span class="warn">{{.Active}}</span>{{end}}</td><td>{{kib .Size}}</td><td>{{.Type}}</td>
<td>{{if .Clean}}<a href="{{.Clean}}">{{base .Clean}}</a>{{end}}{{if .Text}}<a href="{{.Text}}" type="text/plain">{{base .Text}}</a> (as text){{end}}</td>
<td>{{.Note}}{{if .IsImage}}<br>GPS present: {{if .GPS}}<span class="gps">yes</span>{{else if .GPSUnknown}}not checked{{else}}no{{end}}{{end}}</td></tr>
{{end}}</table>{{else}}<p class="muted">No attachments.</p>{{end}}
</body></html>
`))

var indexPage = template.Must(template.New("index").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>Cases</title>` + pageStyle + `</head>
<body>
<h1>Cases</h1>
<p>{{len .Sources}} sources, {{.Submissions}} submissions, {{.Items}} items in all. Search with your browser's find (Ctrl+F). The spreadsheet is <a href="testimonies.csv">testimonies.csv</a>.</p>
{{range .Sources}}
<h2 id="{{.Name}}">Source {{.Name}}{{with .Withdrawal}} <span class="withdrawn">— {{.}}</span>{{end}}</h2>
{{with .Withdrawal}}<p class="withdrawn">The witness took their account back ({{.}}): do not use or quote these items; an investigator deletes them on the investigator site if asked.</p>{{end}}
<table><tr><th>Item</th><th>Key answers</th><th>Attachments</th></tr>
{{range .Items}}<tr><td><a href="{{.Href}}">{{.Day}} {{.Kind}}</a><br><span class="k">{{.ID}}</span>{{with .Withdrawal}}<br><span class="withdrawn">{{.}}</span>{{end}}</td>
<td>{{range .Key}}<span class="k">{{.Label}}:</span> {{.Text}}<br>{{end}}</td>
<td>{{range .Files}}{{if .Href}}<a href="{{.Href}}">{{.Name}}</a>{{else}}{{.Name}} <span class="k">(not linked: could run script{{if .Text}}; <a href="{{.Text}}" type="text/plain">as text</a>{{end}})</span>{{end}}{{if .Clean}} (<a href="{{.Clean}}">working copy</a>){{end}}{{if .GPS}} <span class="gps">GPS</span>{{end}}<br>{{end}}</td></tr>
{{end}}</table>
{{end}}
</body></html>
`))
