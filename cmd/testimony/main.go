// Command testimony is the investigator's offline tool. It runs on an
// air-gapped machine and has no network code: it makes keys and opens the
// encrypted items and bundles downloaded from the investigator site.
package main

import (
	"fmt"
	"os"
)

const usage = `testimony: the investigator's offline tool

Usage:
    testimony keygen [-o FILE] [--classic]
    testimony open -i IDENTITY [-o DIR] FILE...
`

func main() {
	fmt.Fprint(os.Stderr, usage)
	os.Exit(2)
}
