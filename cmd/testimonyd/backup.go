package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"testimony/internal/atomicfile"
	"testimony/records"
	"testimony/store"
)

const backupUsage = `Usage: testimonyd backup [-o FILE] [--config FILE | --data DIR]

Writes a consistent copy of the database to FILE (default:
backup_dir/testimony-YYYY-MM-DD.db), mode 0600, while the server keeps
taking submissions: the running server streams one read-only snapshot over
DATA/control.sock; with no server running, the file is read directly. The
copy is checked ("testimonyd check --file") before it is put in place, so a
file at FILE is always a whole, checked backup.

The copy holds ciphertext, investigator accounts and sessions; the server
key (DATA/server.key) is not in it: keep a copy of that file apart, once —
without it a restored database cannot open TOTP secrets or recognise
codenames.`

func runBackup(args []string) error {
	fl := flag.NewFlagSet("backup", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprintln(os.Stderr, backupUsage); fl.PrintDefaults() }
	out := fl.String("o", "", "write the backup to this file")
	sf := addSettingFlags(fl)
	if err := fl.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := sf.load()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	dst := *out
	if dst == "" {
		dst = filepath.Join(cfg.BackupDir, "testimony-"+now.Format(time.DateOnly)+".db")
	}
	n, err := backup(cfg.DataDir, dst, now.Format(time.DateOnly))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	outf("backup written to %s (%d items, checked)\n", dst, n)
	return nil
}

// backup writes a checked copy of the data directory's database to dst and
// records the day, through the running server if there is one.
func backup(dataDir, dst, day string) (int, error) {
	resp, conn, br, err := askServer(dataDir, controlRequest{Op: "backup"})
	_ = resp
	if err == nil {
		defer conn.Close()
		n, err := writeChecked(dst, func(w io.Writer) (int64, error) {
			return receiveBackup(br, w)
		})
		if err != nil {
			return 0, err
		}
		if _, _, _, err := askServer(dataDir, controlRequest{Op: "backup-done", Day: day}); err != nil {
			warnf("backup written, but the server did not record its day: %v", err)
		}
		return n, nil
	}
	if !errors.Is(err, errNotServing) {
		return 0, err
	}
	db, _, err := openData(dataDir, false)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return 0, fmt.Errorf("%w; its control socket does not answer", err)
		}
		return 0, err
	}
	defer db.Close()
	n, err := writeChecked(dst, func(w io.Writer) (int64, error) {
		return db.Backup(w)
	})
	if err != nil {
		return 0, err
	}
	if err := records.RecordBackup(db, day); err != nil {
		warnf("backup written, but its day was not recorded: %v", err)
	}
	return n, nil
}

// receiveBackup copies a backup stream from the server (after its first
// response line) to w and checks it against the server's trailer.
func receiveBackup(br *bufio.Reader, w io.Writer) (int64, error) {
	h := crc32.New(castagnoli)
	size, err := readFrames(br, io.MultiWriter(w, h))
	if err != nil {
		return 0, fmt.Errorf("%w: the server ends a backup whose reader takes nothing for %v, and every backup when it shuts down (its log says which)", err, backupStall)
	}
	var tr controlResponse
	line, err := br.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &tr)
	}
	if err != nil || tr.Error != "" {
		return 0, fmt.Errorf("the server did not finish the backup: %v%s", err, tr.Error)
	}
	if sum := h.Sum32(); tr.Size != size || tr.CRC32C != sum {
		return 0, fmt.Errorf("backup stream damaged: got %d bytes (crc32c %08x), server sent %d (%08x)", size, sum, tr.Size, tr.CRC32C)
	}
	return size, nil
}

// writeChecked writes a database copy atomically to dst (0600), checked
// by [checkFile] before it takes the name. It returns the number of items
// in the copy.
func writeChecked(dst string, write func(io.Writer) (int64, error)) (int, error) {
	n := 0
	err := atomicfile.Write(dst, func(w io.Writer) error {
		_, err := write(w)
		return err
	}, func(tmp string) error {
		var err error
		if n, err = checkFile(tmp); err != nil {
			return fmt.Errorf("the copy does not pass check, not kept: %w", err)
		}
		return nil
	})
	return n, err
}
