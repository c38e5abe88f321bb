package kms

import awsconfig "github.com/aws/aws-sdk-go-v2/config"

// WithAWS adds options to the AWS SDK configuration of awskms:// keys: a
// test hook for package kms_test (the binary configures AWS from the
// environment and the shared files, as the AWS CLI does).
func WithAWS(opts ...func(*awsconfig.LoadOptions) error) Option {
	return func(o *loadOptions) error {
		o.aws = append(o.aws, opts...)
		return nil
	}
}
