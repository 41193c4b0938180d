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

/// <summary>
/// <c>evaluate</c> and <c>predict</c> on a prepared split or a raw file in the model's layout
/// (<see cref="DeepInterest.Data.Serving.ServingSpec.ReadFile"/>: for DIN-protocol models a CSV with
/// columns user,item,time and an optional label, each row scored with the user's earlier rows as its
/// history; for movielens_seed the tutorial's CSV). Predictions name the raw user and item ids.
/// </summary>
public static class ScoreCommands
{
    public static Command Evaluate()
    {
        var model = new Option<string>("--model") { Description = "Model folder (DIR/model from train)", Required = true };
        var data = new Option<string>("--data") { Description = "Labelled rows: a behaviour log user,item,time,label (DIN-protocol models), the tutorial CSV (movielens_seed) or a prepared .safetensors split", Required = true };
        var cmd = new Command("evaluate", "AUC, GAUC and logloss of a saved model on a labelled CSV") { model, data };
        cmd.SetAction(p =>
        {
            var scorer = ScoringModel.Open(p.GetValue(model)!);
            var path = p.GetValue(data)!;
            var rows = scorer.ReadRaw(path);
            if (!rows.HasLabels) throw new ArgumentException($"{path}: no 'label' column; evaluate needs labelled rows (predict scores rows without labels)");
            var r = scorer.Evaluate(rows.Data);
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
        var data = new Option<string>("--data") { Description = "Rows to score: a behaviour log user,item,time[,label] (DIN-protocol models), the tutorial CSV (movielens_seed) or a prepared .safetensors split; labels are not needed", Required = true };
        var outFile = new Option<string>("--out") { Description = "Output CSV: row, user, item (raw ids), probability", Required = true };
        var cmd = new Command("predict", "Score every row of a CSV with a saved model") { model, data, outFile };
        cmd.SetAction(p =>
        {
            var scorer = ScoringModel.Open(p.GetValue(model)!);
            var rows = scorer.ReadRaw(p.GetValue(data)!);
            var probs = scorer.Predict(rows.Data);
            var sb = new StringBuilder("row,user,item,probability\n");
            for (int i = 0; i < probs.Length; i++)
                sb.Append(CultureInfo.InvariantCulture, $"{i},{Csv(rows.Users[i])},{Csv(rows.Items[i])},{probs[i]:R}\n");
            AtomicFile.WriteAllText(p.GetValue(outFile)!, sb.ToString());
            AnsiConsole.MarkupLine($"scored {probs.Length:N0} rows → {p.GetValue(outFile)}");
            return 0;
        });
        return cmd;
    }

    /// <summary>A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).</summary>
    private static string Csv(string v) =>
        v.AsSpan().IndexOfAny(",\"\r\n") < 0 ? v : "\"" + v.Replace("\"", "\"\"") + "\"";
}
