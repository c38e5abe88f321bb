package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"

	"github.com/spf13/cobra"

	"github.com/attestor/attestor/attestor/sign"
)

func newKeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage signing keys",
	}
	cmd.AddCommand(newKeyGenerateCmd(g), newKeyPublicCmd(g))
	return cmd
}

func newKeyGenerateCmd(g *globals) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "generate [--output-prefix P]",
		Short: "Write a cosign-compatible key pair: P.key (encrypted) and P.pub",
		Long: `generate writes an ECDSA P-256 key pair in cosign's format: P.key, encrypted
with the password in COSIGN_PASSWORD (which may be empty but must be set),
and P.pub. Existing files are never overwritten.`,
		Example: `  COSIGN_PASSWORD=... attestor key generate --output-prefix ci`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			password, ok := g.lookupEnv("COSIGN_PASSWORD")
			if !ok {
				return fault.Invalid(errors.New("COSIGN_PASSWORD is not set: set it to the password for the new key (it may be empty)"))
			}
			if dir := filepath.Dir(prefix); dir != "." {
				if fi, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
					return fault.Invalid(fmt.Errorf("--output-prefix %q: directory %s does not exist", prefix, dir))
				} else if err != nil {
					return fault.Invalid(fmt.Errorf("--output-prefix %q: %w", prefix, err))
				} else if !fi.IsDir() {
					return fault.Invalid(fmt.Errorf("--output-prefix %q: %s is not a directory", prefix, dir))
				}
			}
			privPath, pubPath := prefix+".key", prefix+".pub"
			for _, p := range []string{privPath, pubPath} {
				if _, err := os.Lstat(p); err == nil {
					return fault.Invalid(fmt.Errorf("%s already exists: remove it or choose another --output-prefix", p))
				} else if !errors.Is(err, fs.ErrNotExist) {
					return fault.Invalid(fmt.Errorf("checking %s: %w", p, err))
				}
			}
			priv, pub, err := sign.GenerateKeyPair([]byte(password))
			if err != nil {
				return err
			}
			if err := safefile.WriteAtomic(privPath, priv, 0o600); err != nil {
				return err
			}
			if err := safefile.WriteAtomic(pubPath, pub, 0o644); err != nil {
				os.Remove(privPath)
				return err
			}
			if g.json {
				return g.printJSON(map[string]string{"privateKey": privPath, "publicKey": pubPath})
			}
			g.printf("attestor: wrote %s (private, encrypted) and %s (public)\n", privPath, pubPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "output-prefix", "cosign", "path prefix of the files written")
	return cmd
}

func newKeyPublicCmd(g *globals) *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "public --key REF",
		Short: "Print the public key (PEM) and in-toto key id of a signing key",
		Long: `public prints the public key of a signing key, for policies: a key file, or
a KMS key (gcpkms://, awskms://, azurekms://, hashivault://, with the cloud's
credentials or VAULT_ADDR and VAULT_TOKEN), whose public key is fetched from
the KMS.`,
		Example: `  attestor key public --key ci.key > ci.pub
  attestor key public --key gcpkms://projects/acme/locations/global/keyRings/ci/cryptoKeys/attestor > ci.pub
  attestor key public --key awskms:///alias/attestor > ci.pub
  VAULT_ADDR=https://vault:8200 attestor key public --key hashivault://ci > ci.pub`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.loadSigner(cmd.Context(), key)
			if err != nil {
				return err
			}
			pemBytes, err := sign.MarshalPublicKey(s.Public())
			if err != nil {
				return err
			}
			keyID, err := s.KeyID()
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]string{"keyid": keyID, "publicKey": string(pemBytes)})
			}
			g.printf("attestor: key id %s\n", keyID)
			_, err = g.stdout.Write(pemBytes)
			return err
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "signing key: key file or KMS URI (gcpkms://, awskms://, azurekms://, hashivault://) (env ATTESTOR_KEY)")
	return cmd
}
