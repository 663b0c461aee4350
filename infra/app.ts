import { App } from 'aws-cdk-lib';
import { readSluiceContext } from './context.js';
import { SluiceStack } from './sluice-stack.js';

/** The CDK app (`cdk.json` runs it with tsx). Context keys and their defaults: see ./context.ts. */
const app = new App();
const context = readSluiceContext(app.node);

new SluiceStack(app, context.stackName, {
  stackName: context.stackName,
  description: 'Sluice: a serverless, Kafka-style event log on S3 and DynamoDB',
  tablePrefix: context.tablePrefix,
  removalPolicy: context.removalPolicy,
  maintenanceRates: context.maintenanceRates,
  settings: context.settings,
  metrics: context.metrics,
});
