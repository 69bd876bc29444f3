// Reports of a replay: the plot (SVG), the comparison table and the summary numbers. Pure, no I/O.
export { renderPlot, COLORS, type PlotInput, type PlotPanel } from './plot.ts';
export { renderCompareTable, type CompareRow } from './table.ts';
export { summarize, type Summary } from './summary.ts';
export { chooseYScale, timeAxis, LOG_RATIO, type YScale, type TimeAxis } from './scale.ts';
export { declaredSeries, liveSeries, bucket, stepPath, bandPath, type StepSeries, type Frame } from './steps.ts';
