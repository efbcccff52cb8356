package investigator

import "testimony/server/web"

// The investigator site is in English only; its strings still live in the
// message catalog (locales/investigator.en.json, keys "inv.…"), beside the
// witness site's, and go through the same translate.

// invText returns the English text of a catalog key, or the key itself.
func invText(key string) string { return web.Translate(web.DefaultLang, key) }

// doneMessages are the confirmations a redirect may ask a page to show
// (?done=…); only these keys, never text from the URL.
var doneMessages = map[string]string{
	"seen":        "inv.seen.done",
	"reply":       "inv.reply.sent",
	"item":        "inv.delete.item",
	"source":      "inv.delete.source",
	"password":    "inv.passphrase.changed",
	"annotations": "inv.annotations.stored",
}

func doneText(v string) string {
	if k, ok := doneMessages[v]; ok {
		return invText(k)
	}
	return ""
}
