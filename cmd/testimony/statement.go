package main

import (
	"html/template"
	"path"
	"strings"

	"testimony/bundle"
)

// statement.html of an evidence package (export.go).

// statement is what statement.html shows.
type statement struct {
	Item                bundle.Entry
	ServerKey           string
	InvestigatorKey     string
	Day                 string
	FirstRoot, LastRoot string
	Originals           []statementFile
	Tokens              []string
	CustodyEntries      int
	CustodyHead         string
}

type statementFile struct {
	Path   string
	Size   int64
	SHA256 string
}

// statementPage is read from file:// by whoever receives the package: no
// script, nothing from another origin, everything escaped by
// html/template.
var statementPage = template.Must(template.New("statement").Funcs(funcs).Funcs(template.FuncMap{"rootsOf": rootsOf}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Evidence package: item {{.Item.ID}}</title>` + pageStyle + `</head>
<body>
<h1>Evidence package: {{.Item.Kind}} of {{.Item.Day}}</h1>
<p>Item <code>{{.Item.ID}}</code>, exported on {{.Day}} (UTC) by the investigator whose signing key is <code>{{.InvestigatorKey}}</code>.
Its server signs with <code>{{.ServerKey}}</code>: compare both with the keys noted at enrolment and at keygen.
No time finer than the UTC day is kept here, except the timestamp authority's own time inside each token.</p>

<h2>What each part proves</h2>
<dl>
<dt>SHA256SUMS</dt><dd>The SHA-256 of every file of this folder, as exported: any change to a file since then shows.</dd>
<dt>originals/</dt><dd>The files the witness sent, byte for byte (metadata such as camera or C2PA data untouched), and manifest.json, the submission's own record of them with their SHA-256.</dd>
<dt>item.age</dt><dd>The item as the server stored it, encrypted with age: decrypting it gives back originals/ exactly, so the originals are what was sealed on {{.Item.Day}}.</dd>
<dt>evidence.json, roots.json</dt><dd>The item's inclusion proof in the Merkle tree (RFC 9162) of the items the server stored on {{.Item.Day}}, and the server's signed day roots{{if .FirstRoot}} from {{.FirstRoot}} to {{.LastRoot}}{{end}}, each naming the one before: the server committed to this ciphertext on that day and could not later change, add or remove an item of it unseen.</dd>
{{if .Tokens}}<dt>timestamps/</dt><dd>RFC 3161 tokens of a timestamping authority over a roots file (it saw only the file's hash): the roots, and so the item, existed by the authority's time, on the authority's word rather than ours.</dd>{{end}}
<dt>custody.log</dt><dd>Each opening, sharing and export of items of this case folder, chained by hash and signed by the investigator who did it ({{.CustodyEntries}} entries; the last entry's hash is <code>{{.CustodyHead}}</code>, note it: entries cut from the end show only against it).</dd>
</dl>

<h2>Files</h2>
<table><tr><th>Original</th><th>Size</th><th>SHA-256</th></tr>
<tr><td>originals/manifest.json</td><td></td><td></td></tr>
{{range .Originals}}<tr><td>{{.Path}}</td><td>{{kib .Size}}</td><td><code>{{.SHA256}}</code></td></tr>
{{end}}</table>

<h2>How to check it with stock tools</h2>
<p>In this folder:</p>
<pre>
sha256sum -c SHA256SUMS
sha256sum item.age        # must be {{.Item.SHA256}}, as evidence.json says
age -d -i KEY.txt item.age | tar -xO manifest.json | cmp - originals/manifest.json
mkdir /tmp/check &amp;&amp; age -d -i KEY.txt item.age | tar -x -C /tmp/check &amp;&amp; diff -r /tmp/check/attachments originals/attachments
{{range .Tokens}}openssl ts -verify -data timestamps/{{rootsOf .}} -in {{.}} -CAfile TSA-CA.pem
openssl ts -reply -in {{.}} -text    # the authority's time and policy
{{end}}</pre>
<p>KEY.txt is an identity the item was encrypted to (an investigator's or an escrow key), which needs age 1.3 or later; TSA-CA.pem is the certificate of the authority's CA, got from the authority itself.
The inclusion proof, the chain of roots and the custody log's signatures are checked by the group's offline tool:
<code>testimony verify --server-key {{.ServerKey}}{{if .Tokens}} --tsa-ca TSA-CA.pem{{end}} THIS-FOLDER</code>,
and by anyone following the formats in its docs/design.md.</p>
</body></html>
`))

// rootsOf is the roots file a token of timestampPairs stamps.
func rootsOf(token string) string {
	name, _, _ := strings.Cut(strings.TrimSuffix(path.Base(token), ".tsr"), "-")
	return name + ".roots.json"
}
