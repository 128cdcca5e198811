// A stack's run, as far as AWS credentials go: a separate Node process with only the variables
// the product set on the stack (and a token file). The STS client is built with no credentials,
// so the SDK's default chain finds AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE and assumes the role
// with sts:AssumeRoleWithWebIdentity, as the Terraform AWS provider does. Prints the caller.
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";

const sts = new STSClient({});
const identity = await sts.send(new GetCallerIdentityCommand({}));
process.stdout.write(`${JSON.stringify({ arn: identity.Arn, account: identity.Account })}\n`);
