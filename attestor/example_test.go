package attestor_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/hashing"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/workspace"
)

func ExampleValidateStepName() {
	for _, name := range []string{"build", "unit-tests.linux", "../etc", ".hidden"} {
		if err := workspace.ValidateStepName(name); err != nil {
			fmt.Printf("%-18q invalid\n", name)
			continue
		}
		fmt.Printf("%-18q ok\n", name)
	}
	// Output:
	// "build"            ok
	// "unit-tests.linux" ok
	// "../etc"           invalid
	// ".hidden"          invalid
}

// exampleProject makes a small source tree and returns its directory.
func exampleProject() string {
	dir, err := os.MkdirTemp("", "attestor-example-")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.c"), []byte("int main(void) { return 0; }\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	return dir
}

// exampleSigner returns a signer for a fixed Ed25519 key; a real pipeline
// loads its key with sign.Load("ci.key").
func exampleSigner() *sign.Signer {
	seed := sha256.Sum256([]byte("attestor example key"))
	signer, err := sign.New(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		log.Fatal(err)
	}
	return signer
}

// A step is recorded even when its command fails: the exit code is in the
// record, and the caller exits with it.
func ExampleRecorder_Run() {
	dir := exampleProject()
	defer os.RemoveAll(dir)

	ws, err := workspace.Open(filepath.Join(dir, ".attestor"))
	if err != nil {
		log.Fatal(err)
	}
	rec, err := attestor.NewRecorder(ws, exampleSigner(),
		attestor.WithHashOptions(hashing.WithBaseDir(dir)),
		attestor.WithFormat(attestor.FormatBoth), // a DSSE envelope and a classic in-toto link
	)
	if err != nil {
		log.Fatal(err)
	}
	res, err := rec.Run(context.Background(), attestor.Step{
		Name:      "build",
		Materials: []string{"."},
		Command:   []string{"sh", "-c", "echo compiling; exit 3"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("exit code %d, stdout %q\n", *res.Record().ExitCode, res.Record().Stdout)
	for _, m := range res.Record().Materials {
		fmt.Println("material:", m.GetName())
	}
	for _, f := range res.Files {
		fmt.Println("wrote:", filepath.Base(f))
	}
	// Output:
	// exit code 3, stdout "compiling\n"
	// material: main.c
	// wrote: build.768ae054.dsse.json
	// wrote: build.768ae054.link
}

// A phase that is not one command is recorded in two calls, which may run
// in different processes that share the workspace.
func ExampleRecorder_Start() {
	dir := exampleProject()
	defer os.RemoveAll(dir)
	ctx := context.Background()

	ws, err := workspace.Open(filepath.Join(dir, ".attestor"))
	if err != nil {
		log.Fatal(err)
	}
	rec, err := attestor.NewRecorder(ws, exampleSigner(), attestor.WithHashOptions(hashing.WithBaseDir(dir)))
	if err != nil {
		log.Fatal(err)
	}
	if err := rec.Start(ctx, attestor.Step{Name: "package", Materials: []string{"main.c"}}); err != nil {
		log.Fatal(err)
	}

	// ... the phase runs, in this process or another one ...
	if err := os.WriteFile(filepath.Join(dir, "app.tar"), []byte("tarball"), 0o644); err != nil {
		log.Fatal(err)
	}

	res, err := rec.Stop(ctx, attestor.Step{Name: "package", Products: []string{"app.tar"}})
	if err != nil {
		log.Fatal(err)
	}
	st, err := res.Record().Statement()
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range st.GetSubject() {
		fmt.Println("subject:", s.GetName(), "sha256:"+s.GetDigest()["sha256"][:12])
	}
	fmt.Println("wrote:", filepath.Base(res.Files[0]))
	// Output:
	// subject: app.tar sha256:db4b4d0d1cb4
	// wrote: package.768ae054.dsse.json
}
