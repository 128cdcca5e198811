/**
 * The STS client the provisioner and reconciler assume target accounts' vending roles with,
 * created once per Lambda container. Apart from aws-clients.ts, and imported only through
 * compose.ts's dynamic import() when the permissions file has `accounts`: esbuild places a
 * package reachable from the entry in the chunks the cold start loads, so a deployment with
 * one account does not load STS at all.
 */
import { STSClient } from "@aws-sdk/client-sts";
import { AWS_CLIENT_SETTINGS } from "./aws-client-settings.ts";

let sts: STSClient | undefined;

// STS's regional endpoint (the Lambda's region), which AWS recommends over the global one.
export const stsClient = (): STSClient => {
  sts ??= new STSClient(AWS_CLIENT_SETTINGS);
  return sts;
};
