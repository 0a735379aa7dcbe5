/** How S3 destinations are reached (src/config/offsite-settings.ts reads them). */
export interface S3Settings {
  /** CUPM_S3_ENDPOINT: any S3-compatible endpoint (path-style addressing); unset: AWS. */
  endpoint: string | undefined;
  /** CUPM_S3_REGION (default us-east-1: what most S3-compatible stores expect). */
  region: string;
  /** CUPM_S3_CREATE_BUCKET=1: a missing bucket is created; otherwise it is an error (exit 2). */
  createBucket: boolean;
  /** AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN); never shown. */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** AWS_PROFILE: a profile of ~/.aws/credentials, when no keys are given. */
  profile: string | undefined;
}
