package main

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	texttemplate "text/template"

	"github.com/skip2/go-qrcode"

	"testimony/server/web"
)

// invitePage is one language's invitation, for the two templates.
type invitePage struct {
	Lang    string
	Host    string // the onion address with ".onion"
	URL     string // http://HOST/, what the QR code holds
	Org     *inviteOrg
	Bridges []string
	Sources []string
	Checked string
	facts   *inviteFacts
}

// inviteOrg is the organisation's texts in the page's language.
type inviteOrg struct {
	Name, Description, Retention string
	Contacts                     []inviteContact
}

type inviteContact struct{ Key, Value string }

func newInvitePage(f *inviteFacts, lang, onion string, org web.Organisation, bridges []string) *invitePage {
	p := &invitePage{
		Lang: lang, Host: onion + ".onion", URL: "http://" + onion + ".onion/",
		Bridges: bridges, Sources: f.sources(), Checked: f.Checked, facts: f,
	}
	if !org.IsZero() {
		pick := func(m map[string]string) string {
			if v := strings.TrimSpace(m[lang]); v != "" {
				return v
			}
			return strings.TrimSpace(m["en"])
		}
		p.Org = &inviteOrg{Name: pick(org.Name), Description: pick(org.Description), Retention: pick(org.Retention)}
		for _, c := range org.Contacts {
			p.Org.Contacts = append(p.Org.Contacts, inviteContact{Key: "contact_" + c.Kind, Value: c.Value})
		}
	}
	return p
}

// text returns a text with its placeholders replaced by their values.
func (p *invitePage) text(key string) (string, error) {
	s, ok := p.facts.Text[p.Lang][key]
	if !ok {
		return "", fmt.Errorf("no text %s in %s", key, p.Lang)
	}
	return placeholderRE.ReplaceAllStringFunc(s, func(m string) string { return p.value(m[1 : len(m)-1]) }), nil
}

func (p *invitePage) value(name string) string {
	if name == "checked" {
		return p.facts.Checked
	}
	return p.facts.Values[name]
}

// html returns a text as HTML: the words escaped, each value shown as a
// link when it is an address on torproject.org, else as text set apart.
func (p *invitePage) html(key string) (template.HTML, error) {
	s, ok := p.facts.Text[p.Lang][key]
	if !ok {
		return "", fmt.Errorf("no text %s in %s", key, p.Lang)
	}
	var b strings.Builder
	last := 0
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(s, -1) {
		b.WriteString(template.HTMLEscapeString(s[last:m[0]]))
		v := p.value(s[m[2]:m[3]])
		if isTorProjectURL(v) {
			fmt.Fprintf(&b, `<a href="%s">%s</a>`, template.HTMLEscapeString(v), template.HTMLEscapeString(v))
		} else {
			fmt.Fprintf(&b, `<span class="v">%s</span>`, template.HTMLEscapeString(v))
		}
		last = m[1]
	}
	b.WriteString(template.HTMLEscapeString(s[last:]))
	return template.HTML(b.String()), nil
}

// link shows a source: a link on torproject.org, text anywhere else.
func (p *invitePage) link(u string) template.HTML {
	if isTorProjectURL(u) {
		e := template.HTMLEscapeString(u)
		return template.HTML(`<a href="` + e + `">` + e + `</a>`)
	}
	return template.HTML(`<span class="v">` + template.HTMLEscapeString(u) + `</span>`)
}

// isTorProjectURL reports whether v is an https address on torproject.org:
// the only places the invitation links to, besides the onion itself.
func isTorProjectURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && u.Scheme == "https" && u.User == nil && u.Opaque == "" &&
		(u.Host == "torproject.org" || strings.HasSuffix(u.Host, ".torproject.org"))
}

// QR draws the onion's URL as an inline SVG, one path of horizontal runs of
// dark modules (quiet zone included), made here with no network and no
// image file.
func (p *invitePage) QR() (template.HTML, error) {
	q, err := qrcode.New(p.URL, qrcode.Medium)
	if err != nil {
		return "", err
	}
	bm := q.Bitmap()
	n := len(bm)
	var d strings.Builder
	for y, row := range bm {
		for x := 0; x < n; {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < n && row[x] {
				x++
			}
			fmt.Fprintf(&d, "M%d %dh%dv1h-%dz", start, y, x-start, x-start)
		}
	}
	alt, err := p.text("qr_alt")
	if err != nil {
		return "", err
	}
	return template.HTML(fmt.Sprintf(`<svg id="qr" role="img" aria-label="%s" viewBox="0 0 %d %d" shape-rendering="crispEdges"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		template.HTMLEscapeString(alt), n, n, n, n, d.String())), nil
}

var inviteHTML = template.Must(template.New("invite").Funcs(template.FuncMap{
	"t":    func(p *invitePage, key string) (template.HTML, error) { return p.html(key) },
	"v":    func(p *invitePage, name string) string { return p.value(name) },
	"s":    func(p *invitePage, key string) (string, error) { return p.text(key) },
	"link": func(p *invitePage, u string) template.HTML { return p.link(u) },
}).Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="referrer" content="no-referrer">
<title>{{s . "title"}}</title>
<style>
body{margin:0;background:#fff;color:#111;font:17px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:40rem;margin:0 auto;padding:1rem 1.1rem 2rem}
h1{font-size:1.5rem;line-height:1.25;margin:.4rem 0 .8rem}
h2{font-size:1.2rem;line-height:1.3;margin:1.8rem 0 .6rem;padding-top:1rem;border-top:1px solid #ccc}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
a{color:#0645ad;overflow-wrap:anywhere}
.addr{display:block;margin:.6rem 0;padding:.7rem;background:#f2f2f2;border:2px solid #333;border-radius:.3rem;font:700 1.05rem/1.6 ui-monospace,"DejaVu Sans Mono",monospace;word-break:break-all;color:#111;text-decoration:none}
#qr{display:block;width:15rem;height:15rem;max-width:100%;margin:1rem auto}
.v,pre,code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;word-break:break-all}
pre{white-space:pre-wrap;background:#f2f2f2;padding:.7rem;border-radius:.3rem;font-size:.85rem}
.fpr{display:block;margin:.4rem 0;font-weight:700}
.small{font-size:.9rem;color:#444}
.org{margin:0 0 .8rem;color:#333}
li{margin:.45rem 0}
#who p{white-space:pre-line}
</style>
</head>
<body>
<main>
<h1>{{t . "title"}}</h1>
{{with .Org}}<p class="org"><b>{{.Name}}</b></p>{{end}}
<p>{{t . "lead"}}</p>

<section id="address">
<h2>{{t . "onion_h"}}</h2>
<p>{{t . "onion_intro"}}</p>
<a id="onion" class="addr" href="{{.URL}}">{{.Host}}</a>
{{.QR}}
<p class="small">{{t . "qr_note"}}</p>
<ul>
<li>{{t . "onion_check"}}</li>
<li>{{t . "onion_bookmark"}}</li>
<li>{{t . "onion_safest"}}</li>
</ul>
</section>

<section id="get">
<h2>{{t . "get_h"}}</h2>
<p>{{t . "about_tor"}}</p>
<p>{{t . "get_intro"}}</p>
<ul>
<li>{{t . "get_telegram"}}</li>
<li>{{t . "get_email"}}</li>
<li>{{t . "get_mirror"}}</li>
<li>{{t . "get_android"}}</li>
<li>{{t . "get_iphone"}}</li>
</ul>
<h3>{{t . "verify_h"}}</h3>
<p>{{t . "verify_text"}} <span class="v fpr">{{v . "signing_key_fingerprint"}}</span> {{t . "verify_good"}}</p>
<p>{{t . "verify_android"}}</p>
</section>

<section id="connect">
<h2>{{t . "connect_h"}}</h2>
<p class="small">{{t . "ui_note"}}</p>
<p>{{t . "connect_assist"}}</p>
<p>{{t . "connect_builtin"}}</p>
<p>{{t . "ask_h"}}</p>
<ul>
<li>{{t . "ask_telegram"}}</li>
<li>{{t . "ask_email"}}</li>
<li>{{t . "ask_browser"}}</li>
<li>{{t . "ask_web"}}</li>
</ul>
<p>{{t . "ask_add"}}</p>
</section>
{{if .Bridges}}
<section id="bridge">
<h2>{{t . "private_h"}}</h2>
<p>{{t . "private_text"}}</p>
<pre>{{range .Bridges}}{{.}}
{{end}}</pre>
<p><b>{{t . "private_keep"}}</b></p>
</section>
{{end}}{{with .Org}}
<section id="who">
<h2>{{t $ "who_h"}}</h2>
<p><b>{{.Name}}</b></p>
{{if .Description}}<p>{{.Description}}</p>{{end}}
{{if .Retention}}<p>{{.Retention}}</p>{{end}}
{{if .Contacts}}<p>{{t $ "contact_h"}}</p>
<ul>
{{range .Contacts}}<li>{{s $ .Key}}: <span class="v">{{.Value}}</span></li>
{{end}}</ul>{{end}}
</section>
{{end}}
<section id="sources" class="small">
<h2>{{t . "sources_h"}}</h2>
<p>{{t . "sources_text"}}</p>
<ul>
{{range .Sources}}<li>{{link $ .}}</li>
{{end}}</ul>
</section>
</main>
</body>
</html>
`))

var inviteText = texttemplate.Must(texttemplate.New("invite").Funcs(texttemplate.FuncMap{
	"s": func(p *invitePage, key string) (string, error) { return p.text(key) },
	"v": func(p *invitePage, name string) string { return p.value(name) },
}).Parse(`{{s . "title"}}
{{with .Org}}
{{.Name}}
{{end}}
{{s . "lead"}}

== {{s . "onion_h"}} ==

{{s . "onion_intro"}}

{{.Host}}

- {{s . "onion_check"}}
- {{s . "onion_bookmark"}}
- {{s . "onion_safest"}}

== {{s . "get_h"}} ==

{{s . "about_tor"}}

{{s . "get_intro"}}
- {{s . "get_telegram"}}
- {{s . "get_email"}}
- {{s . "get_mirror"}}
- {{s . "get_android"}}
- {{s . "get_iphone"}}

{{s . "verify_h"}}:
{{s . "verify_text"}}
{{v . "signing_key_fingerprint"}}
{{s . "verify_good"}}
{{s . "verify_android"}}

== {{s . "connect_h"}} ==

({{s . "ui_note"}})

{{s . "connect_assist"}}

{{s . "connect_builtin"}}

{{s . "ask_h"}}
- {{s . "ask_telegram"}}
- {{s . "ask_email"}}
- {{s . "ask_browser"}}
- {{s . "ask_web"}}

{{s . "ask_add"}}
{{if .Bridges}}
== {{s . "private_h"}} ==

{{s . "private_text"}}

{{range .Bridges}}{{.}}
{{end}}
{{s . "private_keep"}}
{{end}}{{with .Org}}
== {{s $ "who_h"}} ==

{{.Name}}
{{if .Description}}{{.Description}}
{{end}}{{if .Retention}}{{.Retention}}
{{end}}{{if .Contacts}}
{{s $ "contact_h"}}
{{range .Contacts}}- {{s $ .Key}}: {{.Value}}
{{end}}{{end}}{{end}}
== {{s . "sources_h"}} ==

{{s . "sources_text"}}
{{range .Sources}}- {{.}}
{{end}}`))
