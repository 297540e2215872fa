package model

import "math"

// Scalar float32 kernels for the ops: exp (Cephes expf's range reduction,
// a shorter polynomial, about 1 ulp) and a rational tanh, several times
// faster than going through float64 math.Exp and math.Tanh, which would
// dominate softmax, cross-entropy and GELU. Their only branches are rarely
// taken, so loops over random data do not mispredict.

const (
	expHi = 88.72283935546875 // exp overflows float32 above this
	expLo = -103.97207708     // exp underflows to 0 below this
	log2e = 1.44269504088896341
	ln2   = 0.693147180559945309
	ln2Hi = 0.693359375 // ln 2 split into an exact high part
	ln2Lo = -2.12194440e-4

	// expClamped's domain: e**x stays a normal float32 in [expMin, expMax].
	expMin = -87.0
	expMax = 88.0
	// roundMagic is 1.5·2**23: adding and subtracting it rounds a float32
	// of magnitude below 2**22 to the nearest integer.
	roundMagic = 12582912
)

// expClamped returns e**x for x in [expMin, expMax] (undefined outside).
func expClamped(x float32) float32 {
	// x = k·ln2 + r, |r| <= ln2/2; e**x = 2**k·e**r.
	k := x*log2e + roundMagic
	k -= roundMagic
	r := x - k*ln2Hi
	r -= k * ln2Lo
	// e**r = 1 + r + r²·q(r), q a degree-4 Chebyshev fit to (e**r − 1 − r)/r²
	// on |r| <= ln2/2: 1e-8 relative error before float32 rounding.
	q := (((1.3926176125e-3*r+8.3631730745e-3)*r+4.1666554662e-2)*r+1.6666577026e-1)*r + 0.5
	p := q*r*r + r + 1
	return p * math.Float32frombits(uint32(int32(k)+127)<<23)
}

// fastExp32 returns e**x for any float32 x, with IEEE behaviour at the
// extremes: +Inf above 88.72, 0 far below, NaN for NaN.
func fastExp32(x float32) float32 {
	switch {
	case x != x: // NaN
		return x
	case x > expHi:
		return float32(math.Inf(1))
	case x < expLo:
		return 0
	case x > expMax:
		return 2 * expClamped(x-ln2)
	case x < expMin:
		return expClamped(x+64*ln2) * 0x1p-64
	}
	return expClamped(x)
}

// fastTanh32 returns tanh(x) to within 4e-7 (absolute and relative): the
// rational minimax approximation of Eigen's fast tanh, odd degree 13 over
// even degree 6 on [−7.9, 7.9], where tanh reaches 1 in float32. It is
// about three times faster than going through exp and small enough to
// inline.
func fastTanh32(x float32) float32 {
	const c = 7.90531110763549805
	if x > c { // branches rarely taken, so cheaper than min and max
		x = c
	}
	if x < -c {
		x = -c
	}
	x2 := x * x
	p := ((((((-2.76076847742355e-16*x2+2.00018790482477e-13)*x2-8.60467152213735e-11)*x2+5.12229709037114e-08)*x2+1.48572235717979e-05)*x2+6.37261928875436e-04)*x2 + 4.89352455891786e-03) * x
	q := ((1.19825839466702e-06*x2+1.18534705686654e-04)*x2+2.26843463243900e-03)*x2 + 4.89352518554385e-03
	return p / q
}

// sqrtF32 is the float32 square root.
func sqrtF32(x float32) float32 { return float32(math.Sqrt(float64(x))) }
