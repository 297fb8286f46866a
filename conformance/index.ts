/**
 * Rankwise conformance: properties that prove aggregation and shutdown correctness on any backend,
 * the runner that checks them, the mutants that prove the properties, and report rendering.
 *
 * Use `runConformance({ backend })` to check a backend (a `HarnessFactory`), `runMutants` to show
 * the suites catch known-broken cores, and `renderConformanceReport` / `renderMutantReport` to
 * print the results.
 */
export { conformanceProperties, propertyById } from "./properties/index.ts"
export { type ConformanceProperty, type PropertyNeeds, type PropertyOptions, PropertyViolation, unmetNeeds } from "./property.ts"
export {
  type ConformanceEvent, type ConformanceOptions, ConformanceOptionsError, type ConformanceReport, numRunsDefault,
  type PropertyReport, runConformance, type Verdict
} from "./runner.ts"
export { type Mutant, mutantById, mutantCatalogue } from "./mutants/catalogue.ts"
export { type MutantOptions, type MutantReport, type MutantResult, runMutants } from "./mutants/run.ts"
export { renderConformanceReport, renderMutantReport } from "./report.ts"
