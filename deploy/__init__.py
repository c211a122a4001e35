"""Building the AWS Lambda package (`make lambda-package`)."""
