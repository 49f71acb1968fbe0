"""``autobot backtest``: the event-driven backtest, its metrics, funnel and report files."""

from __future__ import annotations

import argparse

from autobot_lib.cli._common import add_command, add_research, research_inputs


def add_parser(sub: argparse._SubParsersAction) -> None:
    backtest = add_command(sub, "backtest", "backtest a strategy on one or more symbols, with a report", """
        Run the event-driven USD-M backtester (the live decision path) over a period, print the metrics and the
        funnel, and write an HTML report, the trade log (CSV), the equity curve and an Excel summary.""")
    add_research(backtest, "reports/backtest")


def run(args: argparse.Namespace) -> int:
    from autobot_lib.backtest import run_backtest
    from autobot_lib.backtest.report import generate_report, write_backtest_report
    from autobot_lib.config import load_rules
    from autobot_lib.journal import funnel

    settings, bars, funding = research_inputs(args)
    result = run_backtest(bars, settings, equity=args.equity, funding=funding, rules=load_rules(args.params))
    m = generate_report(result.trades, result.equity["equity"], args.equity).iloc[0]
    first = next(iter(bars.values()))
    print(f"{', '.join(bars)} {first.index[0]:%Y-%m-%d} .. {first.index[-1]:%Y-%m-%d}, strategy {settings.STRATEGY}, "
          f"funding {'real rates' if funding else 'not charged (no --funding file)'}")
    print(f"trades {m['trades']:.0f}  win rate {m['win_rate']:.1%}  payoff {m['payoff_ratio']:.2f}  "
          f"profit factor {m['profit_factor']:.2f}  expectancy {m['expectancy']:.2f}")
    print(f"equity {args.equity:,.0f} -> {m['final_equity']:,.0f} ({m['total_return']:+.1%})  max drawdown "
          f"{m['max_drawdown']:.1%}  Sharpe {m['sharpe_annualised']:.2f} (annualised)  Sortino "
          f"{m['sortino_annualised']:.2f}  mean R {m['mean_r']:.2f}  fees {m['fees']:,.0f}  funding {m['funding']:,.0f}")
    f = funnel(result.journal)
    print(f"funnel: {f.bars} bars, {sum(f.proposed.values())} proposed, {sum(f.gate.values())} gated, "
          f"{sum(f.vetoes.values())} vetoed, {f.orders} orders")
    halted = int(result.equity["halted"].sum())
    if halted:
        print(f"halted {halted} bars by the daily loss limit (BACKTEST_HALT_REARM={settings.BACKTEST_HALT_REARM})")
    for kind, path in write_backtest_report(result, bars, args.out).items():
        print(f"{kind}: {path}")
    return 0
