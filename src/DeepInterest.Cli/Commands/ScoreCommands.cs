using System.CommandLine;
using System.Globalization;
using System.Text;
using DeepInterest.Data.Batches;
using DeepInterest.Data.Protocols;
using DeepInterest.Data.Readers;
using DeepInterest.Engine.IO;
using DeepInterest.Models;
using DeepInterest.Models.Metrics;
using DeepInterest.Models.Networks;
using DeepInterest.Models.Training;
using Spectre.Console;

namespace DeepInterest.Cli.Commands;

/// <summary><c>evaluate</c> and <c>predict</c>.</summary>
public static class ScoreCommands
{
    public static Command Evaluate()
    {
        var model = new Option<string>("--model") { Description = "Model folder (DIR/model from train)", Required = true };
        var data = new Option<string>("--data") { Description = "CSV in the training data's format, with labels", Required = true };
        var cmd = new Command("evaluate", "AUC, GAUC and logloss of a saved model on a labelled CSV") { model, data };
        cmd.SetAction(p =>
        {
            var scorer = ScoringModel.Open(p.GetValue(model)!);
            var r = scorer.Evaluate(scorer.Read(p.GetValue(data)!));
            var t = new Table().AddColumns("rows", "AUC", "GAUC", "logloss");
            t.AddRow($"{r.Samples:N0}", $"{r.Auc:F4}", double.IsNaN(r.Gauc) ? "n/a (no user with both labels)" : $"{r.Gauc:F4}", $"{r.LogLoss:F4}");
            AnsiConsole.Write(t);
            return 0;
        });
        return cmd;
    }

    public static Command Predict()
    {
        var model = new Option<string>("--model") { Description = "Model folder (DIR/model from train)", Required = true };
        var data = new Option<string>("--data") { Description = "CSV in the training data's format (labels are read but not used)", Required = true };
        var outFile = new Option<string>("--out") { Description = "Output CSV: row, user_id, probability", Required = true };
        var cmd = new Command("predict", "Score every row of a CSV with a saved model") { model, data, outFile };
        cmd.SetAction(p =>
        {
            var scorer = ScoringModel.Open(p.GetValue(model)!);
            var d = scorer.Read(p.GetValue(data)!);
            var probs = scorer.Predict(d);
            var sb = new StringBuilder("row,user_id,probability\n");
            for (int i = 0; i < probs.Length; i++)
                sb.Append(CultureInfo.InvariantCulture, $"{i},{d.UserIds[i]},{probs[i]:R}\n");
            AtomicFile.WriteAllText(p.GetValue(outFile)!, sb.ToString());
            AnsiConsole.MarkupLine($"scored {probs.Length:N0} rows → {p.GetValue(outFile)}");
            return 0;
        });
        return cmd;
    }
}
