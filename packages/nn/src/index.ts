export * as stepByStep from './stepByStep.js';
