// A small file to try Prefer on: put the cursor inside a function body and run
// "Prefer: Compare Completions" (Ctrl+Alt+P).

export interface Point {
  x: number;
  y: number;
}

export function distance(a: Point, b: Point): number {
  
}

export function centroid(points: Point[]): Point {
  
}
