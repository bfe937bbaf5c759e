// tlog-verify: checks what the cantdo ledger produces with Go's own
// transparency-log packages (golang.org/x/mod/sumdb/note and .../tlog), the
// ones auditors' standard tools are built on.
//
//	tlog-verify keygen NAME   prints a note signer key and its verifier key
//	tlog-verify < input.json  verifies a checkpoint's signature, inclusion
//	                          proofs and consistency proofs; exit 0 when all
//	                          verify, 1 otherwise (each failure printed)
//
// Built offline against Debian's golang-golang-x-mod-dev
// (GOPATH=/usr/share/gocode, GO111MODULE=off): tests/CMakeLists.txt.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type record struct {
	Index int64    `json:"index"`
	Data  string   `json:"data"` // base64 of the leaf's data
	Proof []string `json:"proof"`
}

type consistency struct {
	OldSize int64    `json:"old_size"`
	OldRoot string   `json:"old_root"`
	Proof   []string `json:"proof"`
}

type input struct {
	VerifierKey string        `json:"verifier_key"`
	Note        string        `json:"note"`
	Records     []record      `json:"records"`
	Consistency []consistency `json:"consistency"`
}

func hashes(in []string) ([]tlog.Hash, error) {
	var out []tlog.Hash
	for _, s := range in {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			return nil, fmt.Errorf("bad hash %q", s)
		}
		var h tlog.Hash
		copy(h[:], b)
		out = append(out, h)
	}
	return out, nil
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "keygen" {
		skey, vkey, err := note.GenerateKey(rand.Reader, os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(skey)
		fmt.Println(vkey)
		return
	}
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "input:", err)
		os.Exit(2)
	}
	v, err := note.NewVerifier(in.VerifierKey)
	if err != nil {
		fmt.Println("verifier key:", err)
		os.Exit(1)
	}
	n, err := note.Open([]byte(in.Note), note.VerifierList(v))
	if err != nil {
		fmt.Println("checkpoint signature:", err)
		os.Exit(1)
	}
	// C2SP tlog-checkpoint: origin, size, base64 root hash.
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != v.Name() {
		fmt.Println("checkpoint body: not origin/size/root")
		os.Exit(1)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fmt.Println("checkpoint size:", err)
		os.Exit(1)
	}
	rootHashes, err := hashes([]string{lines[2]})
	if err != nil {
		fmt.Println("checkpoint root:", err)
		os.Exit(1)
	}
	root := rootHashes[0]
	failed := false
	for _, r := range in.Records {
		data, err := base64.StdEncoding.DecodeString(r.Data)
		proof, perr := hashes(r.Proof)
		if err != nil || perr != nil {
			fmt.Println("record", r.Index, ": bad input")
			failed = true
			continue
		}
		if err := tlog.CheckRecord(tlog.RecordProof(proof), size, root, r.Index, tlog.RecordHash(data)); err != nil {
			fmt.Println("record", r.Index, ":", err)
			failed = true
		}
	}
	for _, c := range in.Consistency {
		proof, err := hashes(c.Proof)
		old, oerr := hashes([]string{c.OldRoot})
		if err != nil || oerr != nil {
			fmt.Println("consistency", c.OldSize, ": bad input")
			failed = true
			continue
		}
		if err := tlog.CheckTree(tlog.TreeProof(proof), size, root, c.OldSize, old[0]); err != nil {
			fmt.Println("consistency", c.OldSize, "->", size, ":", err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
	fmt.Printf("ok: checkpoint %d signed by %s; %d inclusion and %d consistency proofs verify\n", size, v.Name(),
		len(in.Records), len(in.Consistency))
}
