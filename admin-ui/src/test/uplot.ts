// uPlot in unit tests: jsdom has no canvas, so a stand-in records what each
// chart was given (`charts`), and whether it was destroyed.
export interface FakeChart { opts: { series: { label?: string }[] }; data: number[][]; destroyed: boolean }

export const charts: FakeChart[] = [];

export default class FakeUPlot {
  static tzDate = (d: Date) => d;
  chart: FakeChart;
  constructor(opts: FakeChart['opts'], data: number[][], el: HTMLElement) {
    this.chart = { opts, data, destroyed: false };
    charts.push(this.chart);
    el.appendChild(document.createElement('canvas'));
  }
  setSize() {}
  destroy() { this.chart.destroyed = true; }
}
