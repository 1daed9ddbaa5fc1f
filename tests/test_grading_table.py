"""Table-driven grading test: real gold answers (copied from ../shared/data files) against
hand-written predictions, equivalent and not, from MATH-500, AIME24, AMC23, GSM8K, OlympiadBench
and Minerva. Columns: dataset ;; gold ;; prediction ;; expected (T/F) [;; tolerance]."""

from __future__ import annotations

import pytest

from ttcs.grading.equivalence import is_equivalent

TABLE = r"""
math500 ;; \left( 3, \frac{\pi}{2} \right) ;; (3, \frac{\pi}{2}) ;; T
math500 ;; \left( 3, \frac{\pi}{2} \right) ;; \left(3,\dfrac{\pi}{2}\right) ;; T
math500 ;; \left( 3, \frac{\pi}{2} \right) ;; (3, 90^\circ) ;; F
math500 ;; \left( 3, \frac{\pi}{2} \right) ;; (\frac{\pi}{2}, 3) ;; F
math500 ;; \left( 3, \frac{\pi}{2} \right) ;; 3 ;; F
math500 ;; p - q ;; p-q ;; T
math500 ;; p - q ;; -q + p ;; T
math500 ;; p - q ;; q - p ;; F
math500 ;; p - q ;; p^2 ;; F
math500 ;; \frac{14}{3} ;; \dfrac{14}{3} ;; T
math500 ;; \frac{14}{3} ;; 14/3 ;; T
math500 ;; \frac{14}{3} ;; 4\frac{2}{3} ;; T
math500 ;; \frac{14}{3} ;; 4.67 ;; F
math500 ;; \frac{14}{3} ;; \frac{31}{6} ;; F
math500 ;; 9 ;; 9.0 ;; T
math500 ;; 9 ;; x = 9 ;; T
math500 ;; 9 ;; 90 ;; F
math500 ;; \text{Evelyn} ;; Evelyn ;; T
math500 ;; \text{Evelyn} ;; evelyn ;; T
math500 ;; \text{Evelyn} ;; \text{Evelyn.} ;; T
math500 ;; \text{Evelyn} ;; Carla ;; F
math500 ;; \text{Evelyn} ;; 5.2 ;; F
math500 ;; 42 ;; 42 ;; T
math500 ;; 42 ;; \boxed{42} ;; T
math500 ;; 42 ;; The final answer is $42$. I hope it is correct. ;; T
math500 ;; 42 ;; 6 ;; F
math500 ;; 27 ;; 27 ;; T
math500 ;; 27 ;; 3^3 ;; T
math500 ;; 27 ;; 28 ;; F
math500 ;; 90^\circ ;; 90 ;; T
math500 ;; 90^\circ ;; 90^{\circ} ;; T
math500 ;; 90^\circ ;; 90° ;; T
math500 ;; 90^\circ ;; 61 ;; F
math500 ;; 90^\circ ;; 26.6 ;; F
math500 ;; 3\sqrt{13} ;; 3 \sqrt{13} ;; T
math500 ;; 3\sqrt{13} ;; \sqrt{117} ;; T
math500 ;; 3\sqrt{13} ;; 13\sqrt{3} ;; F
math500 ;; 3\sqrt{13} ;; 10.8 ;; F
math500 ;; 4 ;; 4 ;; T
math500 ;; 4 ;; 1 ;; F
math500 ;; .35625 ;; 0.35625 ;; T
math500 ;; .35625 ;; \frac{57}{160} ;; T
math500 ;; .35625 ;; 0.356 ;; F
math500 ;; (6,31,-1) ;; (6, 31, -1) ;; T
math500 ;; (6,31,-1) ;; \left(6,31,-1\right) ;; T
math500 ;; (6,31,-1) ;; (6,-1,31) ;; F
math500 ;; (6,31,-1) ;; (6,31,1) ;; F
math500 ;; \frac{1}{8} ;; 0.125 ;; T
math500 ;; \frac{1}{8} ;; \frac18 ;; T
math500 ;; \frac{1}{8} ;; 1/8 ;; T
math500 ;; \frac{1}{8} ;; \frac{1}{6} ;; F
math500 ;; \frac{\sqrt{21}}{5} ;; \frac{\sqrt{21}}{5} ;; T
math500 ;; \frac{\sqrt{21}}{5} ;; \sqrt{\frac{21}{25}} ;; T
math500 ;; \frac{\sqrt{21}}{5} ;; \frac{21}{5} ;; F
math500 ;; \sqrt{51} ;; \sqrt{51} ;; T
math500 ;; \sqrt{51} ;; 51^{1/2} ;; T
math500 ;; \sqrt{51} ;; 51 ;; F
math500 ;; (-\sqrt{3}, \sqrt{3}) ;; (-\sqrt3,\sqrt3) ;; T
math500 ;; (-\sqrt{3}, \sqrt{3}) ;; [-\sqrt{3}, \sqrt{3}] ;; F
math500 ;; (-\sqrt{3}, \sqrt{3}) ;; (\sqrt{3}, -\sqrt{3}) ;; F
math500 ;; 288 \pi ;; 288\pi ;; T
math500 ;; 288 \pi ;; \pi \cdot 288 ;; T
math500 ;; 288 \pi ;; 288 ;; F
math500 ;; \dfrac{17}{50} ;; \frac{17}{50} ;; T
math500 ;; \dfrac{17}{50} ;; 0.34 ;; T
math500 ;; \dfrac{17}{50} ;; 34\% ;; F
math500 ;; 6 - 5i ;; 6-5i ;; T
math500 ;; 6 - 5i ;; -5i + 6 ;; T
math500 ;; 6 - 5i ;; 6+5i ;; F
math500 ;; \frac 59 ;; \frac{5}{9} ;; T
math500 ;; \frac 59 ;; 5/9 ;; T
math500 ;; \frac 59 ;; 0.56 ;; F
math500 ;; 3 \pm 2 \sqrt{2} ;; 3 \pm 2\sqrt{2} ;; T
math500 ;; 3 \pm 2 \sqrt{2} ;; 3 + 2\sqrt{2} ;; F
math500 ;; 137 \frac{1}{2} ;; 137.5 ;; T
math500 ;; 137 \frac{1}{2} ;; \frac{275}{2} ;; T
math500 ;; 137 \frac{1}{2} ;; 137 ;; F
math500 ;; x^5 - x^4 + x^3 - x^2 + x - 1 ;; x^5-x^4+x^3-x^2+x-1 ;; T
math500 ;; x^5 - x^4 + x^3 - x^2 + x - 1 ;; -1 + x - x^2 + x^3 - x^4 + x^5 ;; T
math500 ;; x^5 - x^4 + x^3 - x^2 + x - 1 ;; x^5 + x^4 + x^3 + x^2 + x + 1 ;; F
math500 ;; -256 ;; -256 ;; T
math500 ;; -256 ;; 256 ;; F
math500 ;; -256 ;; -(2^8) ;; T
math500 ;; (0,9) \cup (9,36) ;; (0,9)\cup(9,36) ;; T
math500 ;; (0,9) \cup (9,36) ;; (0,36) ;; F
math500 ;; (0,9) \cup (9,36) ;; [0,9) \cup (9,36] ;; F
math500 ;; 1,-2 ;; -2, 1 ;; T
math500 ;; 1,-2 ;; 1, -2 ;; T
math500 ;; 1,-2 ;; 1 ;; F
math500 ;; 1,-2 ;; 1, 2 ;; F
math500 ;; 3, 5, 7 ;; 7, 5, 3 ;; T
math500 ;; 3, 5, 7 ;; 3, 5 ;; F
math500 ;; \text{east} ;; East ;; T
math500 ;; \text{east} ;; \text{west} ;; F
math500 ;; \begin{pmatrix} -1/3 \\ 2/3 \\ 5/3 \end{pmatrix} ;; \begin{pmatrix} -\frac{1}{3} \\ \frac{2}{3} \\ \frac{5}{3} \end{pmatrix} ;; T
math500 ;; \begin{pmatrix} -1/3 \\ 2/3 \\ 5/3 \end{pmatrix} ;; \begin{pmatrix} 1/3 \\ 2/3 \\ 5/3 \end{pmatrix} ;; F
math500 ;; \begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix} ;; \begin{pmatrix}-1&0\\0&-1\end{pmatrix} ;; T
math500 ;; \begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix} ;; \begin{bmatrix} -1 & 0 \\ 0 & -1 \end{bmatrix} ;; T
math500 ;; \begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix} ;; \begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix} ;; F
math500 ;; (3,4] ;; (3, 4] ;; T
math500 ;; (3,4] ;; (3,4) ;; F
math500 ;; (3,4] ;; [3,4] ;; F
math500 ;; \text{even} ;; even ;; T
math500 ;; \text{even} ;; \text{odd} ;; F
math500 ;; \frac{270}7\text{ degrees} ;; \frac{270}{7} ;; T
math500 ;; \frac{270}7\text{ degrees} ;; \frac{270}{7}^\circ ;; T
math500 ;; \frac{270}7\text{ degrees} ;; 38 ;; F
math500 ;; (2,\infty) ;; (2, \infty) ;; T
math500 ;; (2,\infty) ;; [2,\infty) ;; F
math500 ;; 10,\!080 ;; 10080 ;; T
math500 ;; 10,\!080 ;; 10,080 ;; T
math500 ;; 10,\!080 ;; 10 080 ;; T
math500 ;; 10,\!080 ;; 1008 ;; F
math500 ;; 11,\! 111,\! 111,\! 100 ;; 11111111100 ;; T
math500 ;; 11,\! 111,\! 111,\! 100 ;; 11,111,111,100 ;; T
math500 ;; 11,\! 111,\! 111,\! 100 ;; 1111111100 ;; F
math500 ;; \text{(C)} ;; C ;; T
math500 ;; \text{(C)} ;; (C) ;; T
math500 ;; \text{(C)} ;; \text{C} ;; T
math500 ;; \text{(C)} ;; B ;; F
math500 ;; \text{(E)} ;; (E) ;; T
math500 ;; \text{(E)} ;; (A) ;; F
math500 ;; \$32,\!348 ;; 32348 ;; T
math500 ;; \$32,\!348 ;; \$32,348 ;; T
math500 ;; \$32,\!348 ;; 32,348 dollars ;; T
math500 ;; \$32,\!348 ;; 32,000 ;; F
math500 ;; 5.4 \text{ cents} ;; 5.4 ;; T
math500 ;; 5.4 \text{ cents} ;; 5.4\text{ cents} ;; T
math500 ;; 5.4 \text{ cents} ;; 54 ;; F
math500 ;; (-\infty, 0] ;; (-\infty,0] ;; T
math500 ;; (-\infty, 0] ;; (-\infty, 0) ;; F
math500 ;; \text{ellipse} ;; ellipse ;; T
math500 ;; \text{ellipse} ;; an ellipse ;; T
math500 ;; \text{ellipse} ;; \text{(D)} ;; F
math500 ;; \text{ellipse} ;; hyperbola ;; F
math500 ;; x \in [-2,7] ;; [-2,7] ;; T
math500 ;; x \in [-2,7] ;; [-2, 7) ;; F
math500 ;; \{1\pm\sqrt{5},-2\} ;; \{1\pm\sqrt{5},-2\} ;; T
math500 ;; \left[ \frac{\pi^2}{8}, \frac{5 \pi^2}{4} \right] ;; [\frac{\pi^2}{8}, \frac{5\pi^2}{4}] ;; T
math500 ;; \left[ \frac{\pi^2}{8}, \frac{5 \pi^2}{4} \right] ;; (\frac{\pi^2}{8}, \frac{5\pi^2}{4}) ;; F
math500 ;; (-\infty, 2) \cup (3, \infty) ;; (-\infty,2)\cup(3,\infty) ;; T
math500 ;; (-\infty, 2) \cup (3, \infty) ;; (2,3) ;; F
math500 ;; y = 2x + 3 ;; y=2x+3 ;; T
math500 ;; y = 2x + 3 ;; 2x+3 ;; T
math500 ;; y = 2x + 3 ;; y = 3x + 2 ;; F
math500 ;; \$18.90 ;; 18.90 ;; T
math500 ;; \$18.90 ;; 18.9 ;; T
math500 ;; \$18.90 ;; \$18.09 ;; F
math500 ;; 58,500 ;; 58500 ;; T
math500 ;; 58,500 ;; 58.5 ;; F
math500 ;; 50 ;; 50\% ;; T
math500 ;; 0 ;; 0 ;; T
math500 ;; 0 ;; -0 ;; T
math500 ;; 0 ;; O ;; F
aime24 ;; 025 ;; 25 ;; T
aime24 ;; 025 ;; 025 ;; T
aime24 ;; 025 ;; 250 ;; F
aime24 ;; 204 ;; 204 ;; T
aime24 ;; 204 ;; \boxed{204} ;; T
aime24 ;; 204 ;; 240 ;; F
aime24 ;; 113 ;; 113.0 ;; T
aime24 ;; 113 ;; 112 ;; F
aime24 ;; 371 ;; 371 ;; T
aime24 ;; 371 ;; 317 ;; F
aime24 ;; 721 ;; 721 ;; T
aime24 ;; 721 ;; 7.21 ;; F
aime24 ;; 809 ;; 809 ;; T
aime24 ;; 809 ;; 890 ;; F
aime24 ;; 540 ;; 540 ;; T
aime24 ;; 540 ;; 54 ;; F
amc23 ;; 27 ;; 27 ;; T
amc23 ;; 27 ;; 27.0 ;; T
amc23 ;; 27 ;; \textbf{(C) }27 ;; F
amc23 ;; 3159 ;; 3159 ;; T
amc23 ;; 3159 ;; 3,159 ;; T
amc23 ;; 3159 ;; 3195 ;; F
amc23 ;; 36 ;; 6^2 ;; T
amc23 ;; 36 ;; 63 ;; F
amc23 ;; 96 ;; 96 ;; T
amc23 ;; 96 ;; 69 ;; F
amc23 ;; 1 ;; 1 ;; T
amc23 ;; 1 ;; \frac{2}{2} ;; T
amc23 ;; 1 ;; -1 ;; F
gsm8k ;; 18 ;; 18 ;; T
gsm8k ;; 18 ;; \$18 ;; T
gsm8k ;; 18 ;; 18 dollars ;; T
gsm8k ;; 18 ;; #### 18 ;; T
gsm8k ;; 18 ;; 16 ;; F
gsm8k ;; 70000 ;; 70,000 ;; T
gsm8k ;; 70000 ;; 70000.00 ;; T
gsm8k ;; 70000 ;; 7000 ;; F
gsm8k ;; 540 ;; 540 ;; T
gsm8k ;; 540 ;; 504 ;; F
gsm8k ;; 57500 ;; 57,500 ;; T
gsm8k ;; 57500 ;; 57 500 ;; T
gsm8k ;; 57500 ;; 575 ;; F
gsm8k ;; 366 ;; 366 ;; T
gsm8k ;; 366 ;; 365 ;; F
gsm8k ;; 694 ;; 694.0 ;; T
gsm8k ;; 694 ;; 649 ;; F
olympiadbench ;; $41352,42351,51342$ ;; 41352, 42351, 51342 ;; T
olympiadbench ;; $41352,42351,51342$ ;; 51342, 41352, 42351 ;; T
olympiadbench ;; $41352,42351,51342$ ;; 41352 ;; F
olympiadbench ;; $\frac{2}{3}$ ;; \frac{2}{3} ;; T
olympiadbench ;; $\frac{2}{3}$ ;; 0.6667 ;; F
olympiadbench ;; $(312,123,231)$ ;; (312, 123, 231) ;; T
olympiadbench ;; $(312,123,231)$ ;; (123, 312, 231) ;; F
olympiadbench ;; $\frac{49}{3}$ ;; 16\frac{1}{3} ;; T
olympiadbench ;; $\frac{49}{3}$ ;; 16.3 ;; F
olympiadbench ;; $6 \sqrt{2}-2$ ;; 6\sqrt{2} - 2 ;; T
olympiadbench ;; $6 \sqrt{2}-2$ ;; -2 + 6\sqrt2 ;; T
olympiadbench ;; $6 \sqrt{2}-2$ ;; 6\sqrt{2} + 2 ;; F
olympiadbench ;; $-\frac{30}{17}$ ;; -\frac{30}{17} ;; T
olympiadbench ;; $-\frac{30}{17}$ ;; \frac{-30}{17} ;; T
olympiadbench ;; $-\frac{30}{17}$ ;; \frac{30}{17} ;; F
olympiadbench ;; $\frac{100!}{2^{50}}$ ;; \frac{100!}{2^{50}} ;; T
olympiadbench ;; $\frac{100!}{2^{50}}$ ;; \frac{100!}{2^{49}} ;; F
olympiadbench ;; $2 n$ ;; 2n ;; T
olympiadbench ;; $2 n$ ;; n + n ;; T
olympiadbench ;; $2 n$ ;; 2n+1 ;; F
olympiadbench ;; $\frac{n(n+1)(2 n+1)}{6}$ ;; \frac{2n^3+3n^2+n}{6} ;; T
olympiadbench ;; $\frac{n(n+1)(2 n+1)}{6}$ ;; \frac{n(n+1)}{2} ;; F
olympiadbench ;; $n^{2}+1$ ;; n^2+1 ;; T
olympiadbench ;; $n^{2}+1$ ;; n^2-1 ;; F
olympiadbench ;; $f(x)=2 x$ ;; f(x) = 2x ;; T
olympiadbench ;; $f(x)=2 x$ ;; 2x ;; T
olympiadbench ;; $f(x)=2 x$ ;; f(x)=x ;; F
olympiadbench ;; $-(n-1) / 2$ ;; \frac{1-n}{2} ;; T
olympiadbench ;; $-(n-1) / 2$ ;; \frac{n-1}{2} ;; F
olympiadbench ;; 4.2 ;; 4.25 ;; T ;; 1e-1
olympiadbench ;; 4.2 ;; 4.15 ;; T ;; 1e-1
olympiadbench ;; 4.2 ;; 4.4 ;; F ;; 1e-1
olympiadbench ;; 4.2 ;; 4.25 ;; F
olympiadbench ;; 3851 ;; 3851 ;; T
olympiadbench ;; 3851 ;; 3,851 ;; T
olympiadbench ;; 3851 ;; 3815 ;; F
minerva ;; 3e6 ;; 3 \times 10^{6} ;; T
minerva ;; 3e6 ;; 3000000 ;; T
minerva ;; 3e6 ;; 3e5 ;; F
minerva ;; 1.3 ;; 1.3 ;; T
minerva ;; 1.3 ;; 1.30 ;; T
minerva ;; 1.3 ;; 1.4 ;; F
minerva ;; 3.61e2 ;; 361 ;; T
minerva ;; 3.61e2 ;; 3.61 \times 10^2 ;; T
minerva ;; 3.61e2 ;; 36.1 ;; F
minerva ;; \frac{\pi}{2} ;; \pi/2 ;; T
minerva ;; \frac{\pi}{2} ;; 1.5708 ;; F
minerva ;; \frac{1}{m} t ;; \frac{t}{m} ;; T
minerva ;; \frac{1}{m} t ;; m t ;; F
minerva ;; 0.49 ;; 0.49 ;; T
minerva ;; 0.49 ;; 49\% ;; F
minerva ;; 7.25e-11 ;; 7.25 \times 10^{-11} ;; T
minerva ;; 7.25e-11 ;; 7.25 \times 10^{-10} ;; F
minerva ;; 46.08 ;; 46.08 ;; T
minerva ;; 46.08 ;; 46.8 ;; F
minerva ;; \frac{1}{\sqrt{2}}c ;; \frac{c}{\sqrt{2}} ;; T
minerva ;; \frac{1}{\sqrt{2}}c ;; \frac{\sqrt{2}}{2} c ;; T
minerva ;; \frac{1}{\sqrt{2}}c ;; \sqrt{2} c ;; F
minerva ;; 1700 ;; 1,700 ;; T
minerva ;; 1700 ;; 1.7 \times 10^3 ;; T
minerva ;; 1700 ;; 170 ;; F
"""


def _cases() -> list[tuple[str, str, str, bool, float | None]]:
    cases = []
    for line in TABLE.strip().splitlines():
        parts = [part.strip() for part in line.split(";;")]
        dataset, gold, pred, expected = parts[:4]
        tolerance = float(parts[4]) if len(parts) > 4 else None
        cases.append((dataset, gold, pred, expected == "T", tolerance))
    return cases


CASES = _cases()


def test_table_is_large_and_balanced():
    assert len(CASES) >= 200
    assert sum(c[3] for c in CASES) >= 80 and sum(not c[3] for c in CASES) >= 80
    assert {c[0] for c in CASES} == {"math500", "aime24", "amc23", "gsm8k", "olympiadbench", "minerva"}


@pytest.mark.parametrize(("dataset", "gold", "pred", "expected", "tolerance"), CASES)
def test_grading_table(dataset, gold, pred, expected, tolerance):
    assert is_equivalent(gold, pred, tolerance=tolerance) is expected
